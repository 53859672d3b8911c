"""Binance spot wire formats: WebSocket stream frames and the REST trade endpoints.

Pure functions (no I/O) so each rule can be read next to the reference it follows
(https://developers.binance.com/docs/binance-spot-api-docs/web-socket-streams and .../rest-api):

- Combined streams live at ``/stream?streams=<s1>/<s2>`` and wrap every event as
  ``{"stream": <name>, "data": <payload>}``; raw streams at ``/ws/<name>`` send the payload bare.
  Stream names use lower-case symbols: ``btcusdt@trade``, ``btcusdt@bookTicker``.
- ``timeUnit=MICROSECOND`` (or ``microsecond``) in the URL switches time fields to microseconds;
  the REST header ``X-MBX-TIME-UNIT`` does the same for REST responses.
- ``@trade``: ``e, E, s, t, p, q, T, m, M`` (``m`` true: the buyer was the maker, the taker
  sold; ``M`` "ignore"); prices and quantities are strings with 8 decimals.
- ``@bookTicker``: ``u, s, b, B, a, A`` (no event time).
- ``serverShutdown``: ``{"e": "serverShutdown", "E": ...}``; on a combined stream it is wrapped
  as ``{"stream": "!serverShutdown", "data": {...}}``.
- ``GET /api/v3/historicalTrades?symbol=&fromId=&limit=`` and ``GET /api/v3/trades?symbol=&limit=``
  return ``[{"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}]``,
  ``limit`` default 500, max 1000; errors are ``{"code": <negative int>, "msg": ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from .faults import MalformedKind
from .history import TradeHistory
from .market import Quote, Trade

TRADE = "trade"
BOOK_TICKER = "bookTicker"
SHUTDOWN_STREAM = "!serverShutdown"
_TIME_UNITS = {"MILLISECOND": False, "millisecond": False, "MICROSECOND": True, "microsecond": True}


class BinanceRequestError(ValueError):
    """A request Binance would refuse, with Binance's error code."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg

    def body(self) -> str:
        return json.dumps({"code": self.code, "msg": self.msg})


@dataclass(frozen=True)
class StreamRequest:
    """What a WebSocket URL asks for."""

    streams: frozenset[str]
    combined: bool
    microseconds: bool


def is_stream_path(path: str) -> bool:
    route = urlsplit(path).path
    return route in ("/stream", "/ws") or route.startswith("/ws/")


def parse_stream_path(path: str, symbols: Collection[str]) -> StreamRequest:
    """``/stream?streams=a/b&timeUnit=...`` or ``/ws/<name>`` -> the streams, validated."""
    parts = urlsplit(path)
    query = parse_qs(parts.query, keep_blank_values=True)
    unit = query.get("timeUnit", ["MILLISECOND"])[-1]
    if unit not in _TIME_UNITS:
        raise BinanceRequestError(-1100, f"Invalid timeUnit: {unit}")
    if parts.path == "/stream":
        names = [name for name in query.get("streams", [""])[-1].split("/") if name]
        combined = True
    elif parts.path == "/ws" or parts.path.startswith("/ws/"):
        names = [name for name in parts.path[len("/ws/") :].split("/") if name]
        combined = False
    else:
        raise BinanceRequestError(-1000, f"Unknown path: {parts.path}")
    for name in names:
        validate_stream(name, symbols)
    return StreamRequest(frozenset(names), combined, _TIME_UNITS[unit])


def validate_stream(name: str, symbols: Collection[str]) -> None:
    """Accept ``<lower-case symbol>@trade`` and ``<lower-case symbol>@bookTicker`` only."""
    symbol, _, kind = name.partition("@")
    if kind not in (TRADE, BOOK_TICKER):
        raise BinanceRequestError(-1000, f"Unsupported stream: {name}")
    if symbol != symbol.lower() or symbol.upper() not in symbols:
        raise BinanceRequestError(-1121, f"Invalid symbol in stream: {name}")


def stream_name(symbol: str, kind: str) -> str:
    return f"{symbol.lower()}@{kind}"


def wire_decimal(value: Decimal) -> str:
    """Binance's decimal strings: fixed 8 decimals."""
    return f"{value:.8f}"


def _time(time_us: int, microseconds: bool) -> int:
    return time_us if microseconds else time_us // 1000


def trade_payload(trade: Trade, *, event_time_us: int, microseconds: bool) -> dict[str, object]:
    return {
        "e": "trade",
        "E": _time(max(event_time_us, trade.time_us), microseconds),
        "s": trade.symbol,
        "t": trade.trade_id,
        "p": wire_decimal(trade.price),
        "q": wire_decimal(trade.qty),
        "T": _time(trade.time_us, microseconds),
        "m": trade.side == "sell",
        "M": True,
    }


def book_ticker_payload(quote: Quote) -> dict[str, object]:
    return {
        "u": quote.update_id,
        "s": quote.symbol,
        "b": wire_decimal(quote.bid),
        "B": wire_decimal(quote.bid_qty),
        "a": wire_decimal(quote.ask),
        "A": wire_decimal(quote.ask_qty),
    }


def frame(stream: str, payload: Mapping[str, object], *, combined: bool) -> str:
    body = {"stream": stream, "data": payload} if combined else payload
    return json.dumps(body, separators=(",", ":"))


def server_shutdown_frame(*, event_time_us: int, combined: bool, microseconds: bool) -> str:
    payload = {"e": "serverShutdown", "E": _time(event_time_us, microseconds)}
    return frame(SHUTDOWN_STREAM, payload, combined=combined)


def malformed_frame(kind: MalformedKind, symbol: str, sample: str | None, combined: bool) -> str:
    """A frame that must fail parsing: broken JSON, a cut-off trade, or wrong field types."""
    stream = stream_name(symbol, TRADE)
    if kind is MalformedKind.TRUNCATED:
        whole = sample or frame(
            stream,
            {
                "e": "trade",
                "E": 1,
                "s": symbol,
                "t": 1,
                "p": "1.00000000",
                "q": "1.00000000",
                "T": 1,
                "m": True,
                "M": True,
            },
            combined=combined,
        )
        return whole[: max(1, len(whole) // 2)]
    if kind is MalformedKind.WRONG_TYPES:
        payload: dict[str, object] = {
            "e": "trade",
            "E": "soon",
            "s": symbol,
            "t": "not-a-number",
            "p": None,
            "q": ["1"],
            "T": {"ms": 0},
            "m": "maybe",
            "M": True,
        }
        return frame(stream, payload, combined=combined)
    prefix = f'{{"stream":"{stream}","data":' if combined else ""
    return prefix + f'{{"e":"trade","E":,"s":"{symbol}","t":}}'


def rest_response(
    path: str, time_unit_header: str | None, histories: Mapping[str, TradeHistory]
) -> tuple[int, str]:
    """Answer ``/api/v3/historicalTrades`` and ``/api/v3/trades``: (HTTP status, JSON body)."""
    parts = urlsplit(path)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    try:
        microseconds = _TIME_UNITS.get(time_unit_header or "MILLISECOND")
        if microseconds is None:
            raise BinanceRequestError(-1100, f"Invalid X-MBX-TIME-UNIT: {time_unit_header}")
        if parts.path not in ("/api/v3/historicalTrades", "/api/v3/trades"):
            return 404, BinanceRequestError(-1000, f"Unknown path: {parts.path}").body()
        symbol = query.get("symbol")
        if not symbol:
            raise BinanceRequestError(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        history = histories.get(symbol)
        if history is None:
            raise BinanceRequestError(-1121, "Invalid symbol.")
        limit = min(_int_param(query, "limit", 500), 1000)
        from_id = query.get("fromId") if parts.path == "/api/v3/historicalTrades" else None
        if from_id is None:
            trades = history.latest(limit)
        else:
            trades = history.from_id(_int_param(query, "fromId", 0), limit)
    except BinanceRequestError as error:
        return 400, error.body()
    rows = [
        {
            "id": trade.trade_id,
            "price": wire_decimal(trade.price),
            "qty": wire_decimal(trade.qty),
            "quoteQty": format((trade.price * trade.qty).normalize(), "f"),
            "time": _time(trade.time_us, microseconds),
            "isBuyerMaker": trade.side == "sell",
            "isBestMatch": True,
        }
        for trade in trades
    ]
    return 200, json.dumps(rows, separators=(",", ":"))


def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not text.isdigit():
        raise BinanceRequestError(-1100, f"Illegal characters found in parameter '{name}'.")
    return int(text)
