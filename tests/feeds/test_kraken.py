"""Kraken v2 parser on documented and hand-built frames (see tests/fixtures/exchanges)."""

import hashlib
from decimal import Decimal

import pytest

from k2.domain.errors import DomainError
from k2.domain.markets import Exchange
from k2.domain.trade import Side
from k2.feeds import kraken
from k2.feeds.frame_errors import FrameParseError
from k2.feeds.frames import ControlKind
from k2.feeds.kraken import KrakenRawQuote, KrakenRawTrade
from tests.fixtures.exchanges.fixture_frames import EXCHANGE_FIXTURES, fixture_frame

pytestmark = pytest.mark.unit

FIXTURES = EXCHANGE_FIXTURES / "kraken"
RECEIVED = 1737500000530000
# Seconds from GNU date: date -u -d 2025-01-21T22:53:20Z +%s
T_2025_01_21_22_53_20 = 1737500000


def frame(name: str) -> bytes:
    return fixture_frame("kraken", name)


def parse(name: str) -> kraken.KrakenFrame:
    return kraken.parse_frame(frame(name), received_at_us=RECEIVED)


def test_every_fixture_names_its_source() -> None:
    for path in FIXTURES.glob("*.frame"):
        frame(path.name)


def test_doc_snapshot_keeps_both_trades_with_numbers_as_sent() -> None:
    parsed = parse("trade_snapshot_doc_example.frame")
    assert parsed.snapshot is True
    assert parsed.quotes == () and parsed.control is None
    assert parsed.trades == (
        KrakenRawTrade(
            symbol="MATIC/USD",
            side="buy",
            price="0.5147",
            qty="6423.46326",
            ord_type="limit",
            trade_id=4665846,
            timestamp="2023-09-25T07:48:36.925533Z",
            message_type="snapshot",
            ingestion_timestamp=RECEIVED,
        ),
        KrakenRawTrade(
            symbol="MATIC/USD",
            side="buy",
            price="0.5147",
            qty="1136.19677815",
            ord_type="limit",
            trade_id=4665847,
            timestamp="2023-09-25T07:49:36.925603Z",
            message_type="snapshot",
            ingestion_timestamp=RECEIVED,
        ),
    )


def test_doc_snapshot_normalises() -> None:
    first, second = (
        kraken.to_trade_v2(raw) for raw in parse("trade_snapshot_doc_example.frame").trades
    )
    assert (first.symbol, first.exchange_symbol) == ("MATICUSD", "MATIC/USD")
    assert first.price == Decimal("0.5147")
    assert second.quantity == Decimal("1136.19677815")
    assert first.side is Side.BUY
    # 2023-09-25T07:48:36Z is 1695628116 s (GNU date)
    assert first.timestamp == 1695628116_925533
    assert second.timestamp == 1695628176_925603


def test_an_update_with_several_trades_keeps_every_one() -> None:
    parsed = parse("trade_update_batch.frame")
    assert parsed.snapshot is False
    assert [raw.trade_id for raw in parsed.trades] == [91234001, 91234002, 91234003]
    assert [raw.message_type for raw in parsed.trades] == ["update"] * 3
    trades = [kraken.to_trade_v2(raw) for raw in parsed.trades]
    assert [t.side for t in trades] == [Side.SELL, Side.SELL, Side.BUY]
    assert [t.price for t in trades] == [Decimal("104251.2"), Decimal("104250.9"), Decimal(104251)]
    assert [t.quantity for t in trades] == [Decimal("0.012"), Decimal("0.5"), Decimal("1E-8")]
    assert trades[2].timestamp == T_2025_01_21_22_53_20 * 10**6 + 600001
    assert {t.symbol for t in trades} == {"BTCUSD"}
    assert trades[0].message_id == hashlib.sha256(b"kraken|BTCUSD|91234001").hexdigest()
    assert len({t.message_id for t in trades}) == 3


def test_a_price_sent_as_a_string_is_kept_exactly() -> None:
    (raw,) = parse("trade_price_as_string.frame").trades
    assert (raw.price, raw.qty) == ("3310.56", "0.25")


def test_ticker_snapshot() -> None:
    parsed = parse("ticker_snapshot.frame")
    assert parsed.snapshot is True and parsed.trades == ()
    assert parsed.quotes == (
        KrakenRawQuote(
            symbol="BTC/USD",
            bid="104250.1",
            bid_qty="5.47575141",
            ask="104250.2",
            ask_qty="0.00520331",
            last="104250.2",
            volume="1824.36198",
            vwap="103987.7",
            low="102150.0",
            high="105000.0",
            change="1512.3",
            change_pct="1.47",
            timestamp="2025-01-21T22:53:21.000123Z",
            message_type="snapshot",
            ingestion_timestamp=RECEIVED,
        ),
    )
    quote = kraken.to_quote_v2(parsed.quotes[0])
    assert (quote.symbol, quote.update_id) == ("BTCUSD", None)
    assert quote.exchange_timestamp == (T_2025_01_21_22_53_20 + 1) * 10**6 + 123
    assert (quote.bid_price, quote.bid_quantity) == (Decimal("104250.1"), Decimal("5.47575141"))
    assert (quote.ask_price, quote.ask_quantity) == (Decimal("104250.2"), Decimal("0.00520331"))
    key = b"2025-01-21T22:53:21.000123Z|104250.1|5.47575141|104250.2|0.00520331"
    assert quote.message_id == hashlib.sha256(b"kraken|BTCUSD|quote:" + key).hexdigest()


def test_ticker_without_timestamp_is_timed_by_receipt() -> None:
    (raw,) = parse("ticker_update_without_timestamp.frame").quotes
    assert raw.timestamp is None
    assert (raw.change, raw.change_pct) == ("-20.44", "-0.61")
    quote = kraken.to_quote_v2(raw)
    assert quote.exchange_timestamp is None
    assert quote.timestamp == RECEIVED
    assert quote.symbol == "ETHUSD"


def test_ticker_needs_only_the_best_bid_and_ask() -> None:
    data = (
        b'{"channel":"ticker","type":"update","data":[{"symbol":"NEW/USD","bid":1,'
        b'"bid_qty":2,"ask":3,"ask_qty":4}]}'
    )
    (raw,) = kraken.parse_frame(data, received_at_us=RECEIVED).quotes
    assert (raw.bid, raw.bid_qty, raw.ask, raw.ask_qty) == ("1", "2", "3", "4")
    assert raw.last is None and raw.vwap is None


@pytest.mark.parametrize(
    ("name", "kind", "detail", "channel", "symbol"),
    [
        ("heartbeat.frame", ControlKind.HEARTBEAT, "", None, None),
        ("status.frame", ControlKind.STATUS, "online", None, None),
        ("subscribe_ack.frame", ControlKind.SUBSCRIBED, "subscribe", "trade", "BTC/USD"),
        (
            "subscribe_error.frame",
            ControlKind.ERROR,
            "Currency pair not supported XBT/USDX",
            None,
            "XBT/USDX",
        ),
        ("pong.frame", ControlKind.PONG, "pong", None, None),
    ],
)
def test_non_data_frames(
    name: str, kind: ControlKind, detail: str, channel: str | None, symbol: str | None
) -> None:
    parsed = parse(name)
    assert parsed.trades == () and parsed.quotes == ()
    assert parsed.control is not None
    assert (parsed.control.kind, parsed.control.detail) == (kind, detail)
    assert (parsed.control.channel, parsed.control.symbol) == (channel, symbol)


def test_unsubscribe_ack() -> None:
    data = (
        b'{"method":"unsubscribe","result":{"channel":"ticker","symbol":"BTC/USD"},"success":true}'
    )
    control = kraken.parse_frame(data, received_at_us=RECEIVED).control
    assert control is not None and control.kind is ControlKind.UNSUBSCRIBED


@pytest.mark.parametrize("name", ["trade_float_nan.frame", "book_channel.frame"])
def test_malformed_fixtures_raise_the_typed_error_with_raw_bytes(name: str) -> None:
    with pytest.raises(FrameParseError) as caught:
        parse(name)
    assert caught.value.raw == frame(name)
    assert caught.value.exchange is Exchange.KRAKEN


@pytest.mark.parametrize(
    "data",
    [
        b'{"channel":"trade","type":"partial","data":[]}',
        b'{"channel":"trade","type":"update","data":{}}',
        b'{"channel":"trade","type":"update","data":[1]}',
        b'{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1,"qty":1,"ord_type":"limit","timestamp":"2025-01-21T22:53:20Z"}]}',
        b'{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":1,"qty":1,"ord_type":"limit","trade_id":1.0,"timestamp":"2025-01-21T22:53:20Z"}]}',
        b'{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":true,"qty":1,"ord_type":"limit","trade_id":1,"timestamp":"2025-01-21T22:53:20Z"}]}',
        b'{"channel":"ticker","type":"update","data":[{"symbol":"BTC/USD","bid":1,"bid_qty":2,"ask":3}]}',
        b'{"channel":"trade"',
        b'{"something":"else"}',
        b'{"method":"subscribe","success":true}' + b"x",
        b"null",
    ],
)  # fmt: skip
def test_frames_that_are_not_valid_kraken_messages(data: bytes) -> None:
    with pytest.raises(FrameParseError) as caught:
        kraken.parse_frame(data, received_at_us=RECEIVED)
    assert caught.value.raw == data


def test_an_empty_snapshot_is_data_with_no_trades() -> None:
    parsed = kraken.parse_frame(
        b'{"channel":"trade","type":"snapshot","data":[]}', received_at_us=RECEIVED
    )
    assert parsed.trades == () and parsed.control is None and parsed.snapshot


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("side", '"b"', "invalid_side"),
        ("timestamp", '"1737500000.512345"', "invalid_timestamp"),
        ("symbol", '"BTCUSD"', "unknown_symbol"),
        ("price", "1e-19", "decimal_out_of_range"),
    ],
)
def test_normalisation_refuses_what_it_cannot_represent(
    field: str, value: str, reason: str
) -> None:
    fields = {
        "symbol": '"BTC/USD"',
        "side": '"buy"',
        "price": "1",
        "qty": "1",
        "ord_type": '"limit"',
        "trade_id": "1",
        "timestamp": '"2025-01-21T22:53:20Z"',
    }
    fields[field] = value
    body = ",".join(f'"{k}":{v}' for k, v in fields.items())
    data = f'{{"channel":"trade","type":"update","data":[{{{body}}}]}}'.encode()
    (raw,) = kraken.parse_frame(data, received_at_us=RECEIVED).trades
    with pytest.raises(DomainError) as caught:
        kraken.to_trade_v2(raw)
    assert caught.value.reason == reason
