"""Binance spot as an :class:`~k2.feeds.exchange_feed.ExchangeFeed`.

One combined stream carries ``<symbol>@trade`` and ``<symbol>@bookTicker`` for every symbol,
subscribed by URL (no subscribe frame), with microsecond timestamps (``timeUnit=MICROSECOND``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from k2.domain.markets import Exchange
from k2.domain.symbols import binance_instrument
from k2.domain.timestamps import TimeUnit, avro_micros
from k2.feeds import binance
from k2.feeds.binance import BinanceFrame, BinanceRawQuote, BinanceRawTrade
from k2.feeds.binance_rest import BinanceTradeBackfill
from k2.feeds.exchange_feed import Clock
from k2.feeds.trade_sequence import IdRange


class BinanceFeed:
    exchange = Exchange.BINANCE

    def __init__(
        self,
        ws_base_url: str,
        rest_base_url: str,
        symbols: tuple[str, ...],
        *,
        api_key: str | None = None,
    ) -> None:
        for symbol in symbols:
            binance_instrument(symbol)  # refuse an unknown symbol before connecting
        self._ws_base_url = ws_base_url.rstrip("/")
        self.symbols = symbols
        self._rest = BinanceTradeBackfill(rest_base_url, api_key=api_key)
        self._keys = {symbol: binance_instrument(symbol).symbol for symbol in symbols}

    def stream_url(self) -> str:
        kinds = ("trade", "bookTicker")
        streams = "/".join(f"{symbol.lower()}@{kind}" for symbol in self.symbols for kind in kinds)
        query = urlencode({"streams": streams, "timeUnit": "MICROSECOND"}, safe="/@")
        return f"{self._ws_base_url}/stream?{query}"

    def subscribe_requests(self) -> list[str]:
        return []

    def parse(self, frame: bytes | str, received_at_us: int) -> BinanceFrame:
        return binance.parse_frame(
            frame, received_at_us=received_at_us, time_unit=TimeUnit.MICROSECOND
        )

    def trade_identity(self, trade: BinanceRawTrade) -> tuple[str, int, int]:
        return trade.symbol, trade.trade_id, trade.trade_time

    def published_trade_identity(self, record: dict[str, Any]) -> tuple[str, int, int]:
        return record["symbol"], record["trade_id"], avro_micros(record["trade_time"])

    def quote_identity(self, quote: BinanceRawQuote) -> tuple[str, str]:
        return quote.symbol, str(quote.update_id)

    def record_key(self, exchange_symbol: str) -> str:
        key = self._keys.get(exchange_symbol)
        return key if key is not None else binance_instrument(exchange_symbol).symbol

    async def backfill(
        self, exchange_symbol: str, ids: IdRange, *, since_us: int, clock: Clock
    ) -> list[BinanceRawTrade]:
        del since_us  # Binance pages by trade id
        return await self._rest.fetch(exchange_symbol, ids.first, ids.last, received_at_us=clock)
