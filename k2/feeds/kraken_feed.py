"""Kraken spot WebSocket v2 as an :class:`~k2.feeds.exchange_feed.ExchangeFeed`.

``trade`` is subscribed with ``snapshot`` set explicitly to true: after every reconnect the 50
most recent trades close most of the hole the disconnect left, and the trade sequence drops the
ones already published. ``ticker`` uses ``event_trigger: bbo`` so every best bid/offer change
arrives, not only changes of the last trade.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from k2.domain.markets import Exchange
from k2.domain.symbols import kraken_instrument
from k2.domain.timestamps import rfc3339_to_micros
from k2.feeds import kraken
from k2.feeds.exchange_feed import Clock
from k2.feeds.kraken import KrakenFrame, KrakenRawQuote, KrakenRawTrade
from k2.feeds.kraken_rest import KrakenTradeBackfill
from k2.feeds.trade_sequence import IdRange


class KrakenFeed:
    exchange = Exchange.KRAKEN

    def __init__(self, ws_url: str, rest_base_url: str, symbols: tuple[str, ...]) -> None:
        self._keys = {symbol: kraken_instrument(symbol).symbol for symbol in symbols}
        self._ws_url = ws_url
        self.symbols = symbols
        self._rest = KrakenTradeBackfill(rest_base_url)
        self._request_ids = itertools.count(1)

    def stream_url(self) -> str:
        return self._ws_url

    def subscribe_requests(self) -> list[str]:
        channels: list[dict[str, object]] = [
            {"channel": "trade", "symbol": list(self.symbols), "snapshot": True},
            {
                "channel": "ticker",
                "symbol": list(self.symbols),
                "event_trigger": "bbo",
                "snapshot": True,
            },
        ]
        return [
            json.dumps({"method": "subscribe", "params": params, "req_id": next(self._request_ids)})
            for params in channels
        ]

    def parse(self, frame: bytes | str, received_at_us: int) -> KrakenFrame:
        return kraken.parse_frame(frame, received_at_us=received_at_us)

    def trade_identity(self, trade: KrakenRawTrade) -> tuple[str, int, int]:
        return trade.symbol, trade.trade_id, rfc3339_to_micros(trade.timestamp)

    def published_trade_identity(self, record: dict[str, Any]) -> tuple[str, int, int]:
        return record["symbol"], record["trade_id"], rfc3339_to_micros(record["timestamp"])

    def quote_identity(self, quote: KrakenRawQuote) -> tuple[str, str]:
        return quote.symbol, kraken.quote_key(quote)

    def record_key(self, exchange_symbol: str) -> str:
        key = self._keys.get(exchange_symbol)
        return key if key is not None else kraken_instrument(exchange_symbol).symbol

    async def backfill(
        self, exchange_symbol: str, ids: IdRange, *, since_us: int, clock: Clock
    ) -> list[KrakenRawTrade]:
        return await self._rest.fetch(
            exchange_symbol, ids.first, ids.last, since_us=since_us, received_at_us=clock
        )
