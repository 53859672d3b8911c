"""Binance parser on documented and hand-built frames (see tests/fixtures/exchanges)."""

import hashlib
from decimal import Decimal

import pytest

from k2.domain.errors import DomainError, UnknownSymbolError
from k2.domain.markets import Exchange
from k2.domain.timestamps import TimeUnit
from k2.domain.trade import Side
from k2.feeds import binance
from k2.feeds.binance import BinanceRawQuote, BinanceRawTrade
from k2.feeds.frame_errors import FrameParseError
from k2.feeds.frames import ControlKind
from tests.fixtures.exchanges.fixture_frames import EXCHANGE_FIXTURES, fixture_frame

pytestmark = pytest.mark.unit

FIXTURES = EXCHANGE_FIXTURES / "binance"
RECEIVED = 1737500000530000


def frame(name: str) -> bytes:
    return fixture_frame("binance", name)


def parse(name: str) -> binance.BinanceFrame:
    return binance.parse_frame(frame(name), received_at_us=RECEIVED)


def test_every_fixture_names_its_source() -> None:
    for path in FIXTURES.glob("*.frame"):
        frame(path.name)


def test_doc_trade_example_in_milliseconds() -> None:
    parsed = parse("trade_doc_example.frame")
    assert parsed.quotes == () and parsed.control is None
    assert parsed.trades == (
        BinanceRawTrade(
            event_type="trade",
            event_time=1672515782136000,
            symbol="BNBBTC",
            trade_id=12345,
            price="0.001",
            quantity="100",
            trade_time=1672515782136000,
            is_buyer_maker=True,
            is_best_match=True,
            ingestion_timestamp=RECEIVED,
        ),
    )


def test_combined_trade_in_microseconds() -> None:
    (trade,) = parse("trade_combined_micros.frame").trades
    assert trade.symbol == "BTCUSDT"
    assert trade.trade_id == 4210000001
    assert (trade.event_time, trade.trade_time) == (1737500000123456, 1737500000120789)
    assert (trade.price, trade.quantity) == ("104250.10000000", "0.00150000")


def test_trade_normalises_with_taker_sold_when_buyer_is_maker() -> None:
    (raw,) = parse("trade_combined_micros.frame").trades
    trade = binance.to_trade_v2(raw)
    assert trade.exchange is Exchange.BINANCE
    assert (trade.symbol, trade.exchange_symbol) == ("BTCUSDT", "BTCUSDT")
    assert (trade.base_asset, trade.quote_asset) == ("BTC", "USDT")
    assert trade.side is Side.SELL
    assert trade.trade_id == 4210000001
    assert trade.timestamp == 1737500000120789  # T, the trade time, not E
    assert trade.price == Decimal("104250.1")
    assert trade.quantity == Decimal("0.0015")
    assert trade.ingestion_timestamp == RECEIVED
    assert trade.message_id == hashlib.sha256(b"binance|BTCUSDT|4210000001").hexdigest()


def test_taker_buy_and_millisecond_times() -> None:
    (raw,) = parse("trade_combined_millis.frame").trades
    trade = binance.to_trade_v2(raw)
    assert trade.side is Side.BUY
    assert trade.timestamp == 1737500001499000
    assert raw.event_time == 1737500001500000


def test_explicit_time_unit_overrides_inference() -> None:
    parsed = binance.parse_frame(
        frame("trade_combined_millis.frame"),
        received_at_us=RECEIVED,
        time_unit=TimeUnit.MICROSECOND,
    )
    assert parsed.trades[0].trade_time == 1737500001499


def test_largest_publishable_value_is_exact() -> None:
    (raw,) = parse("trade_largest_value.frame").trades
    trade = binance.to_trade_v2(raw)
    assert trade.quantity == Decimal("92233720368.54775807")
    assert trade.price == Decimal("0.00001917")


def test_doc_book_ticker_example() -> None:
    parsed = parse("book_ticker_doc_example.frame")
    assert parsed.trades == () and parsed.control is None
    assert parsed.quotes == (
        BinanceRawQuote(
            update_id=400900217,
            symbol="BNBUSDT",
            bid_price="25.35190000",
            bid_quantity="31.21000000",
            ask_price="25.36520000",
            ask_quantity="40.66000000",
            event_time=None,
            transaction_time=None,
            ingestion_timestamp=RECEIVED,
        ),
    )


def test_book_ticker_normalises_without_inventing_an_exchange_time() -> None:
    (raw,) = parse("book_ticker_combined.frame").quotes
    quote = binance.to_quote_v2(raw)
    assert (quote.symbol, quote.update_id, quote.exchange_timestamp) == (
        "BTCUSDT",
        71234567890,
        None,
    )
    assert quote.bid_price == Decimal("104250.1")
    assert quote.bid_quantity == Decimal("2.517")
    assert quote.ask_price == Decimal("104250.11")
    assert quote.ask_quantity == Decimal("0.008")
    assert quote.timestamp == RECEIVED
    assert quote.message_id == hashlib.sha256(b"binance|BTCUSDT|quote:71234567890").hexdigest()


def test_book_ticker_keeps_event_times_if_a_stream_adds_them() -> None:
    data = (
        b'{"stream":"btcusdt@bookTicker","data":{"u":1,"s":"BTCUSDT","b":"1.0","B":"2.0",'
        b'"a":"1.1","A":"3.0","E":1737500000000,"T":1737500000001}}'
    )
    (raw,) = binance.parse_frame(data, received_at_us=RECEIVED).quotes
    assert (raw.event_time, raw.transaction_time) == (1737500000000000, 1737500000001000)
    assert binance.to_quote_v2(raw).exchange_timestamp == 1737500000001000


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("server_shutdown.frame", ControlKind.SERVER_SHUTDOWN),
        ("subscribe_ack.frame", ControlKind.ACK),
        ("error.frame", ControlKind.ERROR),
    ],
)
def test_non_data_frames(name: str, kind: ControlKind) -> None:
    parsed = parse(name)
    assert parsed.control is not None and parsed.control.kind is kind
    assert parsed.trades == () and parsed.quotes == ()


def test_error_frame_carries_the_message() -> None:
    control = parse("error.frame").control
    assert control is not None and control.detail == "Unknown property"


@pytest.mark.parametrize("name", ["trade_truncated.frame", "trade_stream_mismatch.frame"])
def test_malformed_fixtures_raise_the_typed_error_with_raw_bytes(name: str) -> None:
    with pytest.raises(FrameParseError) as caught:
        parse(name)
    assert caught.value.raw == frame(name)
    assert caught.value.exchange is Exchange.BINANCE
    assert caught.value.reason


@pytest.mark.parametrize(
    "data",
    [
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","p":"1","q":"1","T":1,"m":true}}',
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":"true"}}',
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1.5,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true}}',
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":-1,"p":"1","q":"1","T":1,"m":true}}',
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":9223372036854775808,"p":"1","q":"1","T":1,"m":true}}',
        b'{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"NaN","q":"1","T":1,"m":true}}',
        b'{"stream":"btcusdt@aggTrade","data":{"e":"aggTrade","E":1,"s":"BTCUSDT","a":1}}',
        b'{"stream":"btcusdt@trade","data":[]}',
        b"[]",
        b"",
        b"\xff\xfe",
        b'{"e":"trade","E":Infinity}',
    ],
)  # fmt: skip
def test_frames_that_are_not_valid_binance_messages(data: bytes) -> None:
    with pytest.raises(FrameParseError) as caught:
        binance.parse_frame(data, received_at_us=RECEIVED)
    assert caught.value.raw == data


def test_millisecond_time_that_overflows_microseconds_is_refused() -> None:
    data = (
        b'{"e":"trade","E":9223372036854775807,"s":"BTCUSDT","t":1,"p":"1","q":"1","T":1,"m":true}'
    )
    with pytest.raises(FrameParseError):
        binance.parse_frame(data, received_at_us=RECEIVED, time_unit=TimeUnit.MILLISECOND)


def test_text_frames_are_accepted_as_str() -> None:
    text = frame("trade_combined_micros.frame").decode()
    assert binance.parse_frame(text, received_at_us=RECEIVED) == parse(
        "trade_combined_micros.frame"
    )


def test_normalisation_errors_are_domain_errors_with_a_reason() -> None:
    data = b'{"e":"trade","E":1,"s":"FOOBAR","t":1,"p":"1","q":"1","T":1,"m":true}'
    (raw,) = binance.parse_frame(data, received_at_us=RECEIVED).trades
    with pytest.raises(UnknownSymbolError) as caught:
        binance.to_trade_v2(raw)
    assert isinstance(caught.value, DomainError)
    assert caught.value.reason == "unknown_symbol"


def test_a_price_too_precise_for_decimal_38_18_goes_to_the_dlq_not_rounded() -> None:
    data = (
        b'{"e":"trade","E":1,"s":"BTCUSDT","t":1,"p":"0.0000000000000000001","q":"1",'
        b'"T":1,"m":true}'
    )
    (raw,) = binance.parse_frame(data, received_at_us=RECEIVED).trades
    assert raw.price == "0.0000000000000000001"  # the raw record keeps it exactly
    with pytest.raises(DomainError) as caught:
        binance.to_trade_v2(raw)
    assert caught.value.reason == "decimal_out_of_range"
