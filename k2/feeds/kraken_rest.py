"""Kraken spot REST backfill: recover a range of trade ids the WebSocket v2 feed did not deliver.

Protocol (docs.kraken.com "Get Recent Trades", "Spot REST Introduction", and the support article
"What are the API rate limits?"):

* ``GET /0/public/Trades?pair=XBTUSD&since=<cursor>&count=<1..1000>`` answers
  ``{"error": [], "result": {"<pair key>": [[price, volume, time, side, ordertype, misc,
  trade_id], ...], "last": "<cursor>"}}``, oldest first. price and volume are strings, time is
  a JSON number of seconds with a fraction, side ``b``/``s`` (the taker), ordertype ``m``/``l``,
  trade_id the same per-pair sequence the v2 ``trade`` channel sends. count defaults to 1000.
* Paging is by time, not id: ``since`` is a UNIX timestamp (seconds, or nanoseconds as in
  ``last``) and the answer holds trades strictly after it; ``last`` (nanoseconds) is the cursor
  for the next page. So a gap is found from the time of the last trade known before it.
* The pair key is Kraken's internal name (``XXBTZUSD``); REST names use the legacy asset codes
  (XBT for BTC, XDG for DOGE): see :func:`rest_pair`.
* Errors come in the ``error`` array, usually with HTTP 200: ``<severity><category>:<text>``,
  severity ``E`` (error) or ``W`` (warning, the result is still valid). Public endpoints are
  rate limited per IP (and per pair for Trades); about one call per second stays within them.
  Over the limit the answer is an error such as ``EGeneral:Too many requests``, which the client
  treats like HTTP 429.

Times are converted from the decimal text to RFC 3339 with microseconds, the format of the v2
``timestamp`` field, without passing through a float. Kraken prints a binary double (up to ~17
significant digits, e.g. ``1688669597.8277369``), good to about +-0.12 us at today's epochs;
digits past the sixth are dropped, as formatting a finer clock with six digits does.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from k2.domain.markets import Exchange
from k2.domain.symbols import ASSET_ALIASES, kraken_instrument
from k2.domain.timestamps import micros_to_rfc3339
from k2.feeds.frames import FrameReader
from k2.feeds.kraken import KrakenRawTrade
from k2.feeds.rest_client import PagedRestClient, RetryPolicy, Sleep

MAX_PAGE_SIZE = 1000
TRADES_PATH = "/0/public/Trades"
MESSAGE_TYPE = "backfill"
# Trades sharing the last known trade's timestamp, or whose time was rounded differently on the
# WebSocket than in REST, must not fall before the first cursor; extra rows are filtered by id.
SINCE_SLACK_NS = 1_000_000
# Kraken errors that mean "not now" rather than "never": retried like HTTP 429/503.
TRANSIENT_ERRORS = (
    "EAPI:Rate limit exceeded",
    "EGeneral:Too many requests",
    "EService:Unavailable",
    "EService:Busy",
)

_SIDES = {"b": "buy", "s": "sell"}
_ORDER_TYPES = {"m": "market", "l": "limit"}
_TIME_TEXT = re.compile(r"([0-9]{1,11})(?:\.([0-9]{1,9}))?")
_CURSOR_TEXT = re.compile(r"[0-9]{1,20}")
_ROW_FIELDS = ("price", "volume", "time", "side", "ordertype", "misc", "trade_id")
_REST_ASSETS = {common: legacy for legacy, common in ASSET_ALIASES.items()}


def rest_pair(symbol: str) -> str:
    """The REST pair name of a v2 symbol: ``BTC/USD`` -> ``XBTUSD``, ``ETH/USD`` -> ``ETHUSD``.

    Kraken's REST altnames keep the legacy codes XBT and XDG. Raises
    :class:`~k2.domain.errors.UnknownSymbolError` for a symbol that is not ``BASE/QUOTE``.
    """
    instrument = kraken_instrument(symbol)
    base = _REST_ASSETS.get(instrument.base_asset, instrument.base_asset)
    quote = _REST_ASSETS.get(instrument.quote_asset, instrument.quote_asset)
    return base + quote


def _rfc3339(reader: FrameReader, value: object) -> str:
    """Decimal seconds text (``1688669602.698379``) as ``2023-07-06T18:53:22.698379Z``."""
    match = _TIME_TEXT.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        reader.fail(f"trade time {str(value)[:40]!r} is not decimal seconds")
    seconds, fraction = match.group(1), match.group(2) or ""
    return micros_to_rfc3339(int(seconds) * 1_000_000 + int(fraction[:6].ljust(6, "0")))


def _trade(reader: FrameReader, item: object, symbol: str, received_at_us: int) -> KrakenRawTrade:
    values = reader.as_array(item, "trade row")
    if len(values) < len(_ROW_FIELDS):
        reader.fail(f"trade row has {len(values)} fields, expected {len(_ROW_FIELDS)}")
    row = dict(zip(_ROW_FIELDS, values, strict=False))
    side = _SIDES.get(reader.string(row, "side"))
    ord_type = _ORDER_TYPES.get(reader.string(row, "ordertype"))
    if side is None or ord_type is None:
        reader.fail(f"side {row['side']!r}/ordertype {row['ordertype']!r} not b|s / m|l")
    reader.string(row, "misc")
    return KrakenRawTrade(
        symbol=symbol,
        side=side,
        price=reader.decimal_text(row, "price"),
        qty=reader.decimal_text(row, "volume"),
        ord_type=ord_type,
        trade_id=reader.integer(row, "trade_id"),
        timestamp=_rfc3339(reader, row["time"]),
        message_type=MESSAGE_TYPE,
        ingestion_timestamp=received_at_us,
    )


def parse_trades_page(
    body: bytes, *, symbol: str, received_at_us: int
) -> tuple[list[KrakenRawTrade], str]:
    """One ``Trades`` answer as raw trades (in the order sent) and its ``last`` cursor.

    ``symbol`` is the v2 spelling (``BTC/USD``) the records carry. Raises
    :class:`~k2.feeds.frame_errors.FrameParseError` (exchange KRAKEN, with the raw body) for an
    error in the ``error`` array or anything that is not exactly the documented shape. Rows may
    carry columns after ``trade_id`` (Kraken appended ``trade_id`` itself in 2022); they are
    ignored.
    """
    reader = FrameReader(Exchange.KRAKEN, body)
    obj = reader.load_object()
    messages = reader.as_array(reader.require(obj, "error"), "error")
    if any(type(message) is not str for message in messages):
        reader.fail("error array holds a non-string")
    errors = [message for message in messages if not message.startswith("W")]
    if errors:
        reader.fail(f"Kraken error: {'; '.join(errors)[:200]}")
    result = reader.as_object(reader.require(obj, "result"), "result")
    last = reader.require(result, "last")
    if not isinstance(last, str) or not _CURSOR_TEXT.fullmatch(last):
        reader.fail(f"cursor 'last' {str(last)[:40]!r} is not an integer")
    pairs = [key for key in result if key != "last"]
    if len(pairs) != 1:
        reader.fail(f"result holds {len(pairs)} pairs, expected one")
    rows = reader.as_array(result[pairs[0]], f"result {pairs[0][:20]!r}")
    return [_trade(reader, row, symbol, received_at_us) for row in rows], str(last)


def _busy(body: bytes) -> str | None:
    """Why a 200 answer is a transient refusal (rate limit, service busy), else ``None``."""
    try:
        obj: Any = json.loads(body)
    except (ValueError, RecursionError):
        return None
    errors = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(errors, list):
        return None
    busy = [e for e in errors if isinstance(e, str) and e.startswith(TRANSIENT_ERRORS)]
    return "; ".join(busy)[:200] or None


class KrakenTradeBackfill(PagedRestClient):
    """Fetches the trades of a known id range by paging ``GET /0/public/Trades`` through time.

    Transport failures (and Kraken's rate-limit errors) raise
    :class:`~k2.feeds.rest_client.BackfillError` after the retries of ``retry``; an answer
    that is not the documented shape raises ``FrameParseError``. ``request_interval`` spaces
    page requests: about one per second stays inside Kraken's public limits.
    """

    max_page_size = MAX_PAGE_SIZE

    def __init__(
        self,
        rest_url: str,
        *,
        timeout: float = 10.0,
        page_size: int = MAX_PAGE_SIZE,
        retry: RetryPolicy | None = None,
        request_interval: float = 1.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(rest_url, timeout, page_size, retry, request_interval, sleep)

    async def _page(
        self, pair: str, since_ns: int, symbol: str, received_at_us: Callable[[], int]
    ) -> tuple[list[KrakenRawTrade], int]:
        query = urlencode({"pair": pair, "since": since_ns, "count": self.page_size})
        body = await self._get(
            f"{self.rest_url}{TRADES_PATH}?{query}",
            {"Accept": "application/json"},
            transient_body=_busy,
        )
        trades, last = parse_trades_page(body, symbol=symbol, received_at_us=received_at_us())
        return trades, int(last)

    async def fetch(
        self,
        symbol: str,
        first_id: int,
        last_id: int,
        *,
        since_us: int,
        received_at_us: Callable[[], int],
    ) -> list[KrakenRawTrade]:
        """The trades with ``first_id <= id <= last_id``, in id order, each id once.

        ``symbol`` is the v2 spelling (``BTC/USD``); ``since_us`` is the time (UTC us) of the
        last trade known before the gap. Pages with the ``last`` cursor until a trade with id
        >= ``last_id`` has been seen, or a page is empty or brings the cursor no further. Ids
        Kraken does not return are absent: the caller records them as unfilled.

        ``since`` is exclusive, and several trades can share one timestamp (one taker order
        filling several makers), so after a full page the next cursor is ``last - 1 ns``: the
        boundary timestamp is read again and its repeats dropped, rather than its unread trades
        skipped. Only if a page brings nothing new does the cursor move on to ``last`` itself.
        """
        if not 0 <= first_id <= last_id:
            raise ValueError(f"need 0 <= first_id <= last_id, got {first_id}..{last_id}")
        pair = rest_pair(symbol)
        found: dict[int, KrakenRawTrade] = {}
        seen: set[int] = set()
        cursor = max(0, since_us * 1000 - SINCE_SLACK_NS)
        requested = False
        while True:
            if requested and self.request_interval:
                await self._sleep(self.request_interval)
            requested = True
            trades, last_ns = await self._page(pair, cursor, symbol, received_at_us)
            fresh = [trade for trade in trades if trade.trade_id not in seen]
            for trade in fresh:
                seen.add(trade.trade_id)
                if first_id <= trade.trade_id <= last_id:
                    found[trade.trade_id] = trade
            if not trades or max(trade.trade_id for trade in trades) >= last_id:
                break
            full = len(trades) >= self.page_size
            next_cursor = last_ns - 1 if fresh and full and last_ns - 1 > cursor else last_ns
            if next_cursor <= cursor:  # the exchange cannot take us further
                break
            cursor = next_cursor
        return [found[trade_id] for trade_id in sorted(found)]
