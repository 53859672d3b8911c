import hashlib
from decimal import Decimal

import pytest

from k2.domain.errors import (
    DecimalOutOfRangeError,
    InvalidIdentifierError,
    InvalidSideError,
    InvalidTimestampError,
)
from k2.domain.markets import Exchange
from k2.domain.quote import QuoteV2
from k2.domain.symbols import binance_instrument, kraken_instrument
from k2.domain.trade import Side, TradeV2, side_from_buyer_is_maker, side_from_taker

pytestmark = pytest.mark.unit


def make_trade(**overrides: object) -> TradeV2:
    arguments: dict[str, object] = {
        "trade_id": 91234001,
        "timestamp": 1737500000512345,
        "price": Decimal("104251.2"),
        "quantity": Decimal("0.012"),
        "side": Side.SELL,
        "ingestion_timestamp": 1737500000530000,
    }
    arguments.update(overrides)
    return TradeV2.create(kraken_instrument("XBT/USD"), **arguments)  # type: ignore[arg-type]


def test_trade_carries_both_symbols_and_a_deterministic_id() -> None:
    trade = make_trade()
    assert trade.exchange is Exchange.KRAKEN
    assert (trade.symbol, trade.exchange_symbol) == ("BTCUSD", "XBT/USD")
    assert (trade.base_asset, trade.quote_asset) == ("BTC", "USD")
    assert trade.message_id == hashlib.sha256(b"kraken|BTCUSD|91234001").hexdigest()
    assert trade == make_trade()


def test_trade_is_frozen() -> None:
    trade = make_trade()
    with pytest.raises(AttributeError):
        trade.price = Decimal(1)  # type: ignore[misc]


def test_trade_refuses_a_price_that_does_not_fit() -> None:
    with pytest.raises(DecimalOutOfRangeError):
        make_trade(price=Decimal("0.0000000000000000001"))


@pytest.mark.parametrize("timestamp", [1.7e15, -1, None])
def test_trade_timestamps_are_integer_micros(timestamp: object) -> None:
    with pytest.raises(InvalidTimestampError):
        make_trade(timestamp=timestamp)


def test_trade_refuses_a_message_id_that_is_not_the_hash() -> None:
    trade = make_trade()
    fields = {name: getattr(trade, name) for name in trade.__dataclass_fields__}
    fields["message_id"] = "0" * 64
    with pytest.raises(InvalidIdentifierError):
        TradeV2(**fields)


def test_binance_m_true_means_the_taker_sold() -> None:
    assert side_from_buyer_is_maker(True) is Side.SELL
    assert side_from_buyer_is_maker(False) is Side.BUY


@pytest.mark.parametrize(("text", "side"), [("buy", Side.BUY), ("sell", Side.SELL)])
def test_taker_side_text(text: str, side: Side) -> None:
    assert side_from_taker(text) is side


@pytest.mark.parametrize("text", ["b", "", "bid", "short"])
def test_unknown_taker_side_is_refused(text: str) -> None:
    with pytest.raises(InvalidSideError):
        side_from_taker(text)


def make_quote(exchange_timestamp: int | None) -> QuoteV2:
    return QuoteV2.create(
        binance_instrument("BNBUSDT"),
        quote_key="400900217",
        update_id=400900217,
        exchange_timestamp=exchange_timestamp,
        bid_price=Decimal("25.35190000"),
        bid_quantity=Decimal("31.21000000"),
        ask_price=Decimal("25.36520000"),
        ask_quantity=Decimal("40.66000000"),
        ingestion_timestamp=1737500000000001,
    )


def test_quote_without_exchange_time_is_timed_by_receipt() -> None:
    quote = make_quote(None)
    assert quote.exchange_timestamp is None
    assert quote.timestamp == 1737500000000001
    assert quote.message_id == hashlib.sha256(b"binance|BNBUSDT|quote:400900217").hexdigest()


def test_quote_with_exchange_time_uses_it() -> None:
    assert make_quote(1737500000000000).timestamp == 1737500000000000
