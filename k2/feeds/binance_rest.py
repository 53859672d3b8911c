"""Binance spot REST backfill: fetch exactly a range of trade ids the WebSocket did not deliver.

Protocol (Binance spot REST API reference, rest-api.md "Old trade lookup", and CHANGELOG.md):

* ``GET /api/v3/historicalTrades?symbol=BTCUSDT&fromId=<id>&limit=<1..1000>`` returns up to
  ``limit`` trades with id >= ``fromId``, oldest first: ``[{"id", "price", "qty", "quoteQty",
  "time", "isBuyerMaker", "isBestMatch"}]`` (prices and quantities as strings). Default limit
  500, maximum 1000; request weight 25; data source: database, so it reaches far back.
* Security type ``NONE`` since 2023-07-11: the ``X-MBX-APIKEY`` header "is no longer necessary
  and is now ignored". It is still sent when a key is configured (older deployments, mirrors).
* ``X-MBX-TIME-UNIT: MICROSECOND`` (since 2024-11/12) makes ``time`` microseconds; the default is
  milliseconds. We ask for microseconds and still infer the unit from each value's magnitude, as
  the WebSocket parser does, so a proxy or mirror that drops the header cannot shift times 1000x.
* Errors: HTTP 4xx with ``{"code": <negative int>, "msg": ...}``; 429 when over the rate limit and
  418 once the IP is banned, both with ``Retry-After`` in seconds; 5xx is Binance's side.

A REST row has no event time, so ``event_time`` is the trade time; ``event_type`` is "trade" and
the records are the same :class:`~k2.feeds.binance.BinanceRawTrade` the WebSocket parser makes,
so backfilled trades flow through the same topic, schema and normalisation.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, NoReturn
from urllib.parse import urlencode

from k2.domain.errors import DomainError
from k2.domain.markets import Exchange
from k2.domain.timestamps import TimeUnit, epoch_to_micros
from k2.feeds.binance import BinanceRawTrade
from k2.feeds.frames import INT64_MAX, FrameReader, JsonNumber
from k2.feeds.rest_client import PagedRestClient, RetryPolicy, Sleep

MAX_PAGE_SIZE = 1000
HISTORICAL_TRADES_PATH = "/api/v3/historicalTrades"


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"JSON constant {name} is not a number")


def _load_json(reader: FrameReader) -> Any:
    """The body as JSON with every number kept as its literal text (never a float)."""
    try:
        return json.loads(
            reader.raw.decode("utf-8"),
            parse_float=JsonNumber,
            parse_int=JsonNumber,
            parse_constant=_refuse_constant,
        )
    except (ValueError, RecursionError) as exc:
        reader.fail(f"invalid JSON: {exc}")


def _micros(reader: FrameReader, value: int, unit: TimeUnit | None) -> int:
    try:
        micros = epoch_to_micros(value, unit)
    except DomainError as exc:
        reader.fail(str(exc))
    if micros > INT64_MAX:
        reader.fail(f"time {value} overflows microseconds")
    return micros


def parse_historical_trades(
    body: bytes, *, symbol: str, received_at_us: int, time_unit: TimeUnit | None = None
) -> list[BinanceRawTrade]:
    """One ``historicalTrades`` answer as raw trades, in the order sent.

    ``symbol`` is the exchange spelling the request named (rows do not repeat it);
    ``time_unit`` is the unit of ``time``, or ``None`` to infer it per value. Raises
    :class:`~k2.feeds.frame_errors.FrameParseError` (exchange BINANCE, with the raw body) for a
    Binance error body or anything that is not exactly the documented shape.
    """
    reader = FrameReader(Exchange.BINANCE, body)
    value = _load_json(reader)
    if isinstance(value, dict) and "code" in value and "msg" in value:
        reader.fail(f"Binance error {str(value['code'])[:20]}: {str(value['msg'])[:200]}")
    rows = reader.as_array(value, "response")
    trades: list[BinanceRawTrade] = []
    for item in rows:
        row = reader.as_object(item, "trade row")
        trade_time = _micros(reader, reader.integer(row, "time"), time_unit)
        trades.append(
            BinanceRawTrade(
                event_type="trade",
                event_time=trade_time,
                symbol=symbol,
                trade_id=reader.integer(row, "id"),
                price=reader.decimal_text(row, "price"),
                quantity=reader.decimal_text(row, "qty"),
                trade_time=trade_time,
                is_buyer_maker=reader.boolean(row, "isBuyerMaker"),
                is_best_match=reader.optional_boolean(row, "isBestMatch"),
                ingestion_timestamp=received_at_us,
            )
        )
    return trades


class BinanceTradeBackfill(PagedRestClient):
    """Fetches the trades of a known id range from ``GET /api/v3/historicalTrades``.

    Transport failures raise :class:`~k2.feeds.rest_client.BackfillError` after the retries
    of ``retry``; an answer that is not the documented shape raises ``FrameParseError`` (its
    bytes belong in the DLQ). ``request_interval`` spaces consecutive page requests (each costs
    25 of the 6000 weight per minute an IP gets).
    """

    max_page_size = MAX_PAGE_SIZE

    def __init__(
        self,
        rest_url: str,
        *,
        api_key: str | None = None,
        timeout: float = 10.0,
        page_size: int = MAX_PAGE_SIZE,
        retry: RetryPolicy | None = None,
        request_interval: float = 0.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(rest_url, timeout, page_size, retry, request_interval, sleep)
        self._headers = {"X-MBX-TIME-UNIT": "MICROSECOND", "Accept": "application/json"}
        if api_key:
            self._headers["X-MBX-APIKEY"] = api_key

    async def fetch(
        self,
        symbol: str,
        first_id: int,
        last_id: int,
        *,
        received_at_us: Callable[[], int],
    ) -> list[BinanceRawTrade]:
        """The trades with ``first_id <= id <= last_id``, in id order, each id once.

        Pages forward with ``fromId`` and stops past ``last_id`` or when Binance has no more
        rows. Ids the exchange does not return are simply absent: the caller records them as
        unfilled. ``received_at_us`` is read as each page arrives (its ``ingestion_timestamp``).
        """
        if not 0 <= first_id <= last_id:
            raise ValueError(f"need 0 <= first_id <= last_id, got {first_id}..{last_id}")
        found: dict[int, BinanceRawTrade] = {}
        from_id = first_id
        requested = False
        while from_id <= last_id:
            if requested and self.request_interval:
                await self._sleep(self.request_interval)
            requested = True
            limit = min(self.page_size, last_id - from_id + 1)
            query = urlencode({"symbol": symbol, "fromId": from_id, "limit": limit})
            body = await self._get(
                f"{self.rest_url}{HISTORICAL_TRADES_PATH}?{query}", self._headers
            )
            page = parse_historical_trades(body, symbol=symbol, received_at_us=received_at_us())
            if not page:
                break
            for trade in page:
                if first_id <= trade.trade_id <= last_id:
                    found.setdefault(trade.trade_id, trade)
            highest = max(trade.trade_id for trade in page)
            if highest < from_id:  # nothing at or after fromId: no progress is possible
                break
            from_id = highest + 1
        return [found[trade_id] for trade_id in sorted(found)]
