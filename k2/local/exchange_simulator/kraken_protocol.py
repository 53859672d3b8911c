"""Kraken spot WebSocket v2 and REST Trades wire formats.

Pure functions (no I/O), each following docs.kraken.com (spot-websocket-v2/{trade,ticker,status,
heartbeat,ping} and rest-api/get-recent-trades):

- On connect the server sends ``{"channel": "status", "type": "update", "data": [{"version",
  "system", "api_version", "connection_id"}]}``; heartbeats are ``{"channel": "heartbeat"}``,
  about once a second when no other channel update went out.
- A subscribe request ``{"method": "subscribe", "params": {"channel", "symbol": [...],
  "snapshot"}, "req_id"}`` is acknowledged per symbol with ``{"method", "result": {"channel",
  "snapshot", "symbol"}, "success", "time_in", "time_out"[, "req_id"]}`` or, on failure,
  ``{"error", "method", "success": false, "symbol", "time_in", "time_out"}``.
- ``trade`` messages: ``{"channel": "trade", "type": "snapshot"|"update", "data": [...]}`` with
  ``symbol, side, price, qty, ord_type, trade_id, timestamp``; several trades per message; price
  and qty are JSON numbers; timestamps are RFC 3339 with microseconds. A snapshot holds the last
  50 trades.
- ``ticker``: ``symbol, bid, bid_qty, ask, ask_qty, last, volume, vwap, low, high, change,
  change_pct`` (+ ``timestamp``).
- REST ``GET /0/public/Trades?pair=XBTUSD&since=<cursor>&count=<1..1000>`` returns
  ``{"error": [], "result": {"XXBTZUSD": [[price, volume, time, side, ordertype, misc,
  trade_id], ...], "last": "<ns cursor>"}}``: price and volume strings, time float seconds, side
  ``b``/``s``, order type ``m``/``l``, ``trade_id`` an integer; REST names use XBT for BTC.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from urllib.parse import parse_qs, urlsplit

from . import jsonfmt
from .faults import MalformedKind
from .history import TradeHistory
from .market import Quote, TickerStats, Trade

API_VERSION = "v2"
SERVICE_VERSION = "2.0.10"
HEARTBEAT = '{"channel":"heartbeat"}'
CHANNELS = ("trade", "ticker")
_LEGACY_ASSETS = {"XBT", "ETH", "LTC", "XRP", "XLM", "ETC", "XMR", "ZEC", "MLN", "REP", "XDG"}
_FIAT = {"USD", "EUR", "GBP", "JPY", "CAD"}


def rfc3339(time_us: int) -> str:
    """``2023-09-25T07:48:36.925533Z``: always six fractional digits, UTC."""
    seconds, micros = divmod(time_us, 1_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{micros:06d}Z"


def rest_pair_names(symbol: str) -> tuple[str, str]:
    """WebSocket ``BTC/USD`` -> REST altname ``XBTUSD`` and result key ``XXBTZUSD``."""
    base, _, quote = symbol.partition("/")
    base = "XBT" if base == "BTC" else base
    altname = base + quote
    if base in _LEGACY_ASSETS and quote in _FIAT:
        return altname, f"X{base}Z{quote}"
    return altname, altname


def resolve_rest_pair(pair: str, symbols: Collection[str]) -> str | None:
    """The WebSocket symbol a REST ``pair`` names (altname, result key or ``BASE/QUOTE``)."""
    wanted = pair.upper()
    for symbol in symbols:
        altname, key = rest_pair_names(symbol)
        if wanted in (altname, key, symbol, symbol.replace("/", "")):
            return symbol
    return None


def status_frame(connection_id: int, system: str = "online") -> str:
    item = {
        "version": SERVICE_VERSION,
        "system": system,
        "api_version": API_VERSION,
        "connection_id": connection_id,
    }
    return jsonfmt.dumps({"channel": "status", "type": "update", "data": [item]})


def trade_item(trade: Trade) -> dict[str, object]:
    return {
        "symbol": trade.symbol,
        "side": trade.side,
        "price": trade.price,
        "qty": trade.qty,
        "ord_type": trade.ord_type,
        "trade_id": trade.trade_id,
        "timestamp": rfc3339(trade.time_us),
    }


def trade_message(message_type: str, trades: list[Trade]) -> str:
    data = [trade_item(trade) for trade in trades]
    return jsonfmt.dumps({"channel": "trade", "type": message_type, "data": data})


def ticker_message(message_type: str, quote: Quote, stats: TickerStats) -> str:
    item = {
        "symbol": quote.symbol,
        "bid": quote.bid,
        "bid_qty": quote.bid_qty,
        "ask": quote.ask,
        "ask_qty": quote.ask_qty,
        "last": stats.last,
        "volume": stats.volume,
        "vwap": stats.vwap,
        "low": stats.low,
        "high": stats.high,
        "change": stats.change,
        "change_pct": stats.change_pct,
        "timestamp": rfc3339(quote.time_us),
    }
    return jsonfmt.dumps({"channel": "ticker", "type": message_type, "data": [item]})


def subscribe_ack(
    method: str,
    channel: str,
    symbol: str,
    snapshot: bool,
    *,
    req_id: int | None,
    time_in_us: int,
    time_out_us: int,
) -> str:
    body: dict[str, object] = {
        "method": method,
        "result": {"channel": channel, "snapshot": snapshot, "symbol": symbol},
        "success": True,
        "time_in": rfc3339(time_in_us),
        "time_out": rfc3339(time_out_us),
    }
    if req_id is not None:
        body["req_id"] = req_id
    return jsonfmt.dumps(body)


def error_response(
    method: str,
    error: str,
    *,
    symbol: str | None,
    req_id: int | None,
    time_in_us: int,
    time_out_us: int,
) -> str:
    body: dict[str, object] = {"error": error, "method": method, "success": False}
    if symbol is not None:
        body["symbol"] = symbol
    body["time_in"] = rfc3339(time_in_us)
    body["time_out"] = rfc3339(time_out_us)
    if req_id is not None:
        body["req_id"] = req_id
    return jsonfmt.dumps(body)


def pong(req_id: int | None, *, time_in_us: int, time_out_us: int) -> str:
    body: dict[str, object] = {"method": "pong"}
    if req_id is not None:
        body["req_id"] = req_id
    body["time_in"] = rfc3339(time_in_us)
    body["time_out"] = rfc3339(time_out_us)
    return jsonfmt.dumps(body)


def malformed_frame(kind: MalformedKind, symbol: str, sample: str | None) -> str:
    """A trade message that must fail parsing."""
    if kind is MalformedKind.TRUNCATED:
        whole = sample or (
            '{"channel":"trade","type":"update","data":[{"symbol":"' + symbol + '","side":"buy",'
            '"price":1.0,"qty":1.0,"ord_type":"limit","trade_id":1,'
            '"timestamp":"2024-01-01T00:00:00.000000Z"}]}'
        )
        return whole[: max(1, len(whole) // 2)]
    if kind is MalformedKind.WRONG_TYPES:
        item = {
            "symbol": symbol,
            "side": 7,
            "price": "not-a-number",
            "qty": None,
            "ord_type": False,
            "trade_id": "x",
            "timestamp": 12,
        }
        return jsonfmt.dumps({"channel": "trade", "type": "update", "data": [item]})
    return '{"channel":"trade","type":"update","data":[{"symbol":"' + symbol + '",,"price":}]}'


def rest_trades_response(path: str, histories: Mapping[str, TradeHistory]) -> tuple[int, str]:
    """Answer ``/0/public/Trades``: (HTTP status, JSON body); errors ride in ``error``."""
    parts = urlsplit(path)
    if parts.path != "/0/public/Trades":
        return 404, jsonfmt.dumps({"error": ["EGeneral:Unknown method"]})
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    pair = query.get("pair")
    if not pair:
        return 200, jsonfmt.dumps({"error": ["EGeneral:Invalid arguments"]})
    symbol = resolve_rest_pair(pair, list(histories))
    if symbol is None:
        return 200, jsonfmt.dumps({"error": ["EQuery:Unknown asset pair"]})
    count_text = query.get("count", "1000")
    if not count_text.isdigit() or not 1 <= int(count_text) <= 1000:
        return 200, jsonfmt.dumps({"error": ["EGeneral:Invalid arguments:count"]})
    count = int(count_text)
    history = histories[symbol]
    since_text = query.get("since")
    if since_text is None:
        trades, since_ns = history.latest(count), 0
    else:
        parsed = _since_ns(since_text)
        if parsed is None:
            return 200, jsonfmt.dumps({"error": ["EGeneral:Invalid arguments:since"]})
        since_ns = parsed
        trades = history.after_time_ns(since_ns, count)
    rows = [
        [
            f"{trade.price:.{_price_decimals(trade.price)}f}",
            f"{trade.qty:.8f}",
            jsonfmt.RawNumber(f"{trade.time_us // 1_000_000}.{trade.time_us % 1_000_000:06d}"),
            "b" if trade.side == "buy" else "s",
            "m" if trade.ord_type == "market" else "l",
            "",
            trade.trade_id,
        ]
        for trade in trades
    ]
    last = trades[-1].time_us * 1000 if trades else since_ns
    _, key = rest_pair_names(symbol)
    return 200, jsonfmt.dumps({"error": [], "result": {key: rows, "last": str(last)}})


def _since_ns(text: str) -> int | None:
    """Kraken's cursor: seconds (possibly fractional) or the nanosecond ``last`` it returned."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    if value < 10**11:  # seconds: 10^11 s is the year 5138, nanoseconds are ~10^18
        return int(value * 1_000_000_000)
    return int(value)


def _price_decimals(price: Decimal) -> int:
    exponent = price.as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return max(decimals, 5)
