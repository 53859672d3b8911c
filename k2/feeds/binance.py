"""Binance spot WebSocket streams: frames to raw records, raw records to ``trade_v2``/``quote_v2``.

Protocol (Binance spot "WebSocket Streams" reference, web-socket-streams.md):

* Combined stream ``/stream?streams=btcusdt@trade/btcusdt@bookTicker`` wraps every event as
  ``{"stream": "<name>", "data": <payload>}``; a raw ``/ws/`` stream sends the payload alone. Both
  are accepted.
* ``<symbol>@trade`` payload: ``e`` ("trade"), ``E`` event time, ``s`` symbol, ``t`` trade id,
  ``p`` price, ``q`` quantity, ``T`` trade time, ``m`` buyer is maker, ``M`` (documented as
  "ignore"). Buyer/seller order ids ``b``/``a`` were removed from this stream on 2024-06-18.
* ``<symbol>@bookTicker`` payload: ``u`` order-book update id, ``s``, ``b``/``B`` best bid price and
  quantity, ``a``/``A`` best ask price and quantity. Spot carries no event or transaction time
  (the futures variant adds ``e``, ``E``, ``T``; they are kept if they ever appear).
* Times are milliseconds unless the URL has ``timeUnit=MICROSECOND``; each is converted to
  microseconds, inferring the unit from its magnitude unless the caller states it.
* ``serverShutdown`` (``{"e": "serverShutdown", "E": ...}``, combined stream ``!serverShutdown``):
  reconnect now. ``{"result": ..., "id": ...}`` answers a request; ``{"code", "msg"}`` is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from k2.domain.decimals import exact_decimal
from k2.domain.errors import DomainError
from k2.domain.markets import Exchange
from k2.domain.quote import QuoteV2
from k2.domain.symbols import BINANCE_QUOTE_ASSETS, binance_instrument
from k2.domain.timestamps import TimeUnit, epoch_to_micros
from k2.domain.trade import TradeV2, side_from_buyer_is_maker
from k2.feeds.frames import INT64_MAX, Control, ControlKind, FrameReader, ParsedFrame


@dataclass(frozen=True, slots=True)
class BinanceRawTrade:
    """One ``@trade`` event, field for field (schema ``binance_raw_trade``)."""

    AVRO_SCHEMA: ClassVar[str] = "binance_raw_trade"

    event_type: str
    event_time: int
    symbol: str
    trade_id: int
    price: str
    quantity: str
    trade_time: int
    is_buyer_maker: bool
    is_best_match: bool | None
    ingestion_timestamp: int


@dataclass(frozen=True, slots=True)
class BinanceRawQuote:
    """One ``@bookTicker`` event, field for field (schema ``binance_raw_quote``)."""

    AVRO_SCHEMA: ClassVar[str] = "binance_raw_quote"

    update_id: int
    symbol: str
    bid_price: str
    bid_quantity: str
    ask_price: str
    ask_quantity: str
    event_time: int | None
    transaction_time: int | None
    ingestion_timestamp: int


BinanceFrame = ParsedFrame[BinanceRawTrade, BinanceRawQuote]


def parse_frame(
    frame: bytes | str, *, received_at_us: int, time_unit: TimeUnit | None = None
) -> BinanceFrame:
    """Parse one frame. Raises :class:`~k2.feeds.frame_errors.FrameParseError`, and only that.

    ``received_at_us`` (UTC microseconds) becomes each record's ``ingestion_timestamp``;
    ``time_unit`` is the unit the stream was opened with, or ``None`` to infer it per value.
    """
    reader = FrameReader(Exchange.BINANCE, frame)
    obj = reader.load_object()
    stream: str | None = None
    if "stream" in obj and "data" in obj:
        stream = reader.string(obj, "stream")
        payload = reader.as_object(obj["data"], "data")
    elif "id" in obj and "result" in obj:
        return ParsedFrame(control=Control(ControlKind.ACK, detail=f"id={obj['id']}"))
    elif "code" in obj and "msg" in obj:
        message = obj["msg"] if type(obj["msg"]) is str else ""
        return ParsedFrame(control=Control(ControlKind.ERROR, detail=message))
    else:
        payload = obj

    event = payload.get("e")
    if event == "trade":
        trade = _trade(reader, payload, received_at_us, time_unit)
        _check_stream(reader, stream, trade.symbol, "trade")
        return ParsedFrame(trades=(trade,))
    if event == "serverShutdown":
        return ParsedFrame(
            control=Control(ControlKind.SERVER_SHUTDOWN, detail=str(payload.get("E")))
        )
    if event is None and "u" in payload and "b" in payload:
        quote = _quote(reader, payload, received_at_us, time_unit)
        _check_stream(reader, stream, quote.symbol, "bookTicker")
        return ParsedFrame(quotes=(quote,))
    reader.fail(f"unsupported event {str(event)[:40]!r}")


def _micros(reader: FrameReader, value: int | None, unit: TimeUnit | None) -> int | None:
    """An epoch field in microseconds; must still fit Avro ``long`` after scaling."""
    if value is None:
        return None
    try:
        micros = epoch_to_micros(value, unit)
    except DomainError as exc:
        reader.fail(str(exc))
    if micros > INT64_MAX:
        reader.fail(f"time {value} in {unit or 'inferred unit'} overflows microseconds")
    return micros


def _required_micros(reader: FrameReader, value: int, unit: TimeUnit | None) -> int:
    micros = _micros(reader, value, unit)
    assert micros is not None
    return micros


def _check_stream(reader: FrameReader, stream: str | None, symbol: str, kind: str) -> None:
    """The stream name must match the payload, or the frame is not what it claims to be."""
    if stream is not None and stream.lower() != f"{symbol}@{kind}".lower():
        reader.fail(f"stream {stream[:60]!r} does not carry {kind} for {symbol[:20]!r}")


def _trade(
    reader: FrameReader, data: dict[str, Any], received_at_us: int, unit: TimeUnit | None
) -> BinanceRawTrade:
    return BinanceRawTrade(
        event_type=reader.string(data, "e"),
        event_time=_required_micros(reader, reader.integer(data, "E"), unit),
        symbol=reader.string(data, "s"),
        trade_id=reader.integer(data, "t"),
        price=reader.decimal_text(data, "p"),
        quantity=reader.decimal_text(data, "q"),
        trade_time=_required_micros(reader, reader.integer(data, "T"), unit),
        is_buyer_maker=reader.boolean(data, "m"),
        is_best_match=reader.optional_boolean(data, "M"),
        ingestion_timestamp=received_at_us,
    )


def _quote(
    reader: FrameReader, data: dict[str, Any], received_at_us: int, unit: TimeUnit | None
) -> BinanceRawQuote:
    return BinanceRawQuote(
        update_id=reader.integer(data, "u"),
        symbol=reader.string(data, "s"),
        bid_price=reader.decimal_text(data, "b"),
        bid_quantity=reader.decimal_text(data, "B"),
        ask_price=reader.decimal_text(data, "a"),
        ask_quantity=reader.decimal_text(data, "A"),
        event_time=_micros(reader, reader.optional_integer(data, "E"), unit),
        transaction_time=_micros(reader, reader.optional_integer(data, "T"), unit),
        ingestion_timestamp=received_at_us,
    )


def to_trade_v2(
    raw: BinanceRawTrade, quote_assets: tuple[str, ...] = BINANCE_QUOTE_ASSETS
) -> TradeV2:
    """Normalise a raw trade. Raises :class:`~k2.domain.errors.DomainError` (with a ``reason``)
    for a value K2 cannot hold exactly, e.g. a decimal outside ``decimal(38, 18)``."""
    return TradeV2.create(
        binance_instrument(raw.symbol, quote_assets),
        trade_id=raw.trade_id,
        timestamp=raw.trade_time,
        price=exact_decimal(raw.price),
        quantity=exact_decimal(raw.quantity),
        side=side_from_buyer_is_maker(raw.is_buyer_maker),
        ingestion_timestamp=raw.ingestion_timestamp,
    )


def to_quote_v2(
    raw: BinanceRawQuote, quote_assets: tuple[str, ...] = BINANCE_QUOTE_ASSETS
) -> QuoteV2:
    """Normalise a raw book ticker; its id derives from the order-book update id ``u``."""
    exchange_time = raw.transaction_time if raw.transaction_time is not None else raw.event_time
    return QuoteV2.create(
        binance_instrument(raw.symbol, quote_assets),
        quote_key=str(raw.update_id),
        update_id=raw.update_id,
        exchange_timestamp=exchange_time,
        bid_price=exact_decimal(raw.bid_price),
        bid_quantity=exact_decimal(raw.bid_quantity),
        ask_price=exact_decimal(raw.ask_price),
        ask_quantity=exact_decimal(raw.ask_quantity),
        ingestion_timestamp=raw.ingestion_timestamp,
    )
