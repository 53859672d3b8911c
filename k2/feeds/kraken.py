"""Kraken spot WebSocket v2: frames to raw records, raw records to ``trade_v2``/``quote_v2``.

Protocol (Kraken "Spot WebSocket v2" reference, ``wss://ws.kraken.com/v2``):

* ``trade`` channel: ``{"channel": "trade", "type": "snapshot"|"update", "data": [...]}``. ``data``
  is a list and may hold several trades (batching does not mean one taker order); every one is
  kept. Each trade: ``symbol`` ("BTC/USD"), ``side`` (taker, "buy"/"sell"), ``price``, ``qty``
  (JSON numbers), ``ord_type`` ("limit"/"market"), ``trade_id`` (sequence per book),
  ``timestamp`` (RFC 3339). The snapshot replays the 50 most recent trades.
* ``ticker`` channel: same envelope; each item ``symbol``, ``bid``, ``bid_qty``, ``ask``,
  ``ask_qty``, ``last``, ``volume``, ``vwap``, ``low``, ``high``, ``change``, ``change_pct`` and, in
  current versions, ``timestamp``. ``last`` is only guaranteed after a trade within 24 h, so every
  non-BBO field is optional.
* ``heartbeat`` (``{"channel": "heartbeat"}``, ~1/s when idle), ``status`` (on connect and on
  engine status changes), ``method`` responses (``subscribe``/``unsubscribe``/``pong``, with
  ``success``) and errors (``success: false`` with ``error``) are control messages.

Numbers are read as their literal text (never as floats) and kept exactly as sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from k2.domain.decimals import exact_decimal
from k2.domain.markets import Exchange
from k2.domain.quote import QuoteV2
from k2.domain.symbols import kraken_instrument
from k2.domain.timestamps import rfc3339_to_micros
from k2.domain.trade import TradeV2, side_from_taker
from k2.feeds.frames import Control, ControlKind, FrameReader, ParsedFrame

_DATA_TYPES = ("snapshot", "update")


@dataclass(frozen=True, slots=True)
class KrakenRawTrade:
    """One trade from a ``trade`` message, field for field (schema ``kraken_raw_trade``)."""

    AVRO_SCHEMA: ClassVar[str] = "kraken_raw_trade"

    symbol: str
    side: str
    price: str
    qty: str
    ord_type: str
    trade_id: int
    timestamp: str
    message_type: str
    ingestion_timestamp: int


@dataclass(frozen=True, slots=True)
class KrakenRawQuote:
    """One item of a ``ticker`` message, field for field (schema ``kraken_raw_quote``)."""

    AVRO_SCHEMA: ClassVar[str] = "kraken_raw_quote"

    symbol: str
    bid: str
    bid_qty: str
    ask: str
    ask_qty: str
    last: str | None
    volume: str | None
    vwap: str | None
    low: str | None
    high: str | None
    change: str | None
    change_pct: str | None
    timestamp: str | None
    message_type: str
    ingestion_timestamp: int


KrakenFrame = ParsedFrame[KrakenRawTrade, KrakenRawQuote]


def parse_frame(frame: bytes | str, *, received_at_us: int) -> KrakenFrame:
    """Parse one frame. Raises :class:`~k2.feeds.frame_errors.FrameParseError`, and only that.

    ``received_at_us`` (UTC microseconds) becomes each record's ``ingestion_timestamp``.
    """
    reader = FrameReader(Exchange.KRAKEN, frame)
    obj = reader.load_object()
    channel = obj.get("channel")
    if channel == "trade":
        message_type, items = _envelope(reader, obj)
        trades = tuple(_trade(reader, item, message_type, received_at_us) for item in items)
        return ParsedFrame(trades=trades, snapshot=message_type == "snapshot")
    if channel == "ticker":
        message_type, items = _envelope(reader, obj)
        quotes = tuple(_quote(reader, item, message_type, received_at_us) for item in items)
        return ParsedFrame(quotes=quotes, snapshot=message_type == "snapshot")
    if channel == "heartbeat":
        return ParsedFrame(control=Control(ControlKind.HEARTBEAT))
    if channel == "status":
        return ParsedFrame(control=Control(ControlKind.STATUS, detail=_system_status(obj)))
    if "method" in obj or "error" in obj:
        return ParsedFrame(control=_response(reader, obj))
    reader.fail(f"unsupported message (channel {str(channel)[:40]!r})")


def _envelope(reader: FrameReader, obj: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    message_type = reader.string(obj, "type")
    if message_type not in _DATA_TYPES:
        reader.fail(f"message type {message_type[:20]!r} is neither snapshot nor update")
    items = reader.as_array(reader.require(obj, "data"), "data")
    return message_type, [reader.as_object(item, "data item") for item in items]


def _trade(
    reader: FrameReader, item: dict[str, Any], message_type: str, received_at_us: int
) -> KrakenRawTrade:
    return KrakenRawTrade(
        symbol=reader.string(item, "symbol"),
        side=reader.string(item, "side"),
        price=reader.decimal_text(item, "price"),
        qty=reader.decimal_text(item, "qty"),
        ord_type=reader.string(item, "ord_type"),
        trade_id=reader.integer(item, "trade_id"),
        timestamp=reader.string(item, "timestamp"),
        message_type=message_type,
        ingestion_timestamp=received_at_us,
    )


def _quote(
    reader: FrameReader, item: dict[str, Any], message_type: str, received_at_us: int
) -> KrakenRawQuote:
    def optional(key: str) -> str | None:
        return reader.optional_decimal_text(item, key)

    return KrakenRawQuote(
        symbol=reader.string(item, "symbol"),
        bid=reader.decimal_text(item, "bid"),
        bid_qty=reader.decimal_text(item, "bid_qty"),
        ask=reader.decimal_text(item, "ask"),
        ask_qty=reader.decimal_text(item, "ask_qty"),
        last=optional("last"),
        volume=optional("volume"),
        vwap=optional("vwap"),
        low=optional("low"),
        high=optional("high"),
        change=optional("change"),
        change_pct=optional("change_pct"),
        timestamp=reader.optional_string(item, "timestamp"),
        message_type=message_type,
        ingestion_timestamp=received_at_us,
    )


def _text(value: object) -> str:
    return value if type(value) is str else ""


def _system_status(obj: dict[str, Any]) -> str:
    """The engine status ("online", "maintenance", ...) if the message has the usual shape."""
    data = obj.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return _text(data[0].get("system"))
    return ""


def _response(reader: FrameReader, obj: dict[str, Any]) -> Control:
    """A reply to one of our requests, or an error the server reports."""
    method = _text(obj.get("method"))
    result = obj.get("result")
    result = result if isinstance(result, dict) else {}
    channel = _text(result.get("channel")) or None
    symbol = _text(result.get("symbol")) or _text(obj.get("symbol")) or None
    if obj.get("success") is False or "error" in obj:
        return Control(ControlKind.ERROR, _text(obj.get("error")), channel, symbol)
    if method == "subscribe":
        return Control(ControlKind.SUBSCRIBED, method, channel, symbol)
    if method == "unsubscribe":
        return Control(ControlKind.UNSUBSCRIBED, method, channel, symbol)
    if method == "pong":
        return Control(ControlKind.PONG, method)
    if method:
        return Control(ControlKind.ACK, method, channel, symbol)
    reader.fail("response without a method")


def to_trade_v2(raw: KrakenRawTrade) -> TradeV2:
    """Normalise a raw trade. Raises :class:`~k2.domain.errors.DomainError` (with a ``reason``)
    for a value K2 cannot hold exactly."""
    return TradeV2.create(
        kraken_instrument(raw.symbol),
        trade_id=raw.trade_id,
        timestamp=rfc3339_to_micros(raw.timestamp),
        price=exact_decimal(raw.price),
        quantity=exact_decimal(raw.qty),
        side=side_from_taker(raw.side),
        ingestion_timestamp=raw.ingestion_timestamp,
    )


def quote_key(raw: KrakenRawQuote) -> str:
    """Kraken's ticker has no update id, so an update is identified by its time and book values
    as sent: a replay of the same message gets the same id, a new update a new one."""
    parts = (raw.timestamp or "", raw.bid, raw.bid_qty, raw.ask, raw.ask_qty)
    return "|".join(parts)


def to_quote_v2(raw: KrakenRawQuote) -> QuoteV2:
    """Normalise a raw ticker item (its best bid/ask)."""
    return QuoteV2.create(
        kraken_instrument(raw.symbol),
        quote_key=quote_key(raw),
        update_id=None,
        exchange_timestamp=None if raw.timestamp is None else rfc3339_to_micros(raw.timestamp),
        bid_price=exact_decimal(raw.bid),
        bid_quantity=exact_decimal(raw.bid_qty),
        ask_price=exact_decimal(raw.ask),
        ask_quantity=exact_decimal(raw.ask_qty),
        ingestion_timestamp=raw.ingestion_timestamp,
    )
