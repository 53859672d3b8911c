"""The silver business rules and the DLQ reason taxonomy (k2.domain.validation)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k2.domain import errors
from k2.domain.errors import DomainError
from k2.domain.markets import Exchange
from k2.domain.quote import QuoteV2
from k2.domain.symbols import Instrument, binance_instrument, kraken_instrument
from k2.domain.trade import Side, TradeV2
from k2.domain.validation import (
    DEFAULT_INSTRUMENTS,
    DEFAULT_MAX_AGE_US,
    EARLIEST_TIMESTAMP_US,
    REASON_CODES,
    ReasonClass,
    ReasonCode,
    ValidationPolicy,
    Violation,
    check_decimal,
    reason_code,
    validate_quote,
    validate_trade,
)

pytestmark = pytest.mark.unit

RECEIVED = 1737500000530000  # 2025-01-21T22:53:20.530Z
TRADED = 1737500000120789
SECOND = 1_000_000
DAY = 86_400 * SECOND
POLICY = ValidationPolicy()


def make_trade(instrument: Instrument | None = None, /, **overrides: Any) -> TradeV2:
    arguments: dict[str, Any] = {
        "trade_id": 4210000001,
        "timestamp": TRADED,
        "price": Decimal("104250.10000000"),
        "quantity": Decimal("0.00150000"),
        "side": Side.SELL,
        "ingestion_timestamp": RECEIVED,
    }
    arguments.update(overrides)
    return TradeV2.create(instrument or binance_instrument("BTCUSDT"), **arguments)


def make_quote(instrument: Instrument | None = None, /, **overrides: Any) -> QuoteV2:
    arguments: dict[str, Any] = {
        "quote_key": "2025-01-21T22:53:21.000123Z",
        "update_id": None,
        "exchange_timestamp": RECEIVED - 1000,
        "bid_price": Decimal("104250.1"),
        "bid_quantity": Decimal("5.47575141"),
        "ask_price": Decimal("104250.2"),
        "ask_quantity": Decimal("0.00520331"),
        "ingestion_timestamp": RECEIVED,
    }
    arguments.update(overrides)
    return QuoteV2.create(instrument or kraken_instrument("BTC/USD"), **arguments)


def forced(record: Any, **values: Any) -> Any:
    """A copy with values the constructor would refuse, to show the rules report, not raise."""
    copy = dataclasses.replace(record)
    for name, value in values.items():
        object.__setattr__(copy, name, value)
    return copy


def codes(violations: list[Violation]) -> list[ReasonCode]:
    return [violation.code for violation in violations]


# --- taxonomy ----------------------------------------------------------------------------------


def _domain_error_classes() -> list[type[DomainError]]:
    found: list[type[DomainError]] = [DomainError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return found


def test_every_domain_error_reason_is_a_normalise_code() -> None:
    module_errors = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, DomainError)
    ]
    assert set(module_errors) <= set(_domain_error_classes())
    for cls in _domain_error_classes():
        assert ReasonCode(cls.reason) in REASON_CODES[ReasonClass.NORMALISE], cls
        assert reason_code(cls("x")) is ReasonCode(cls.reason)


def test_every_code_belongs_to_a_class_and_classes_are_the_four_stages() -> None:
    assert [c.value for c in ReasonClass] == ["decode", "schema", "normalise", "validate"]
    assert set(REASON_CODES) == set(ReasonClass)
    assert set().union(*REASON_CODES.values()) == set(ReasonCode)
    for code in ReasonCode:
        assert code.value == code.value.lower() and " " not in code.value


def test_a_domain_error_with_an_unlisted_reason_counts_as_invalid_value() -> None:
    class NewError(DomainError):
        reason = "something_new"

    class ReusingAValidateCodeError(DomainError):
        reason = "crossed_book"

    assert reason_code(NewError("x")) is ReasonCode.INVALID_VALUE
    assert reason_code(ReusingAValidateCodeError("x")) is ReasonCode.INVALID_VALUE


# --- policy ------------------------------------------------------------------------------------


def test_default_policy_knows_btc_and_eth_on_both_exchanges_by_normalised_symbol() -> None:
    assert (
        POLICY.instruments
        == DEFAULT_INSTRUMENTS
        == {
            (Exchange.BINANCE, "BTCUSDT"),
            (Exchange.BINANCE, "ETHUSDT"),
            (Exchange.KRAKEN, "BTCUSD"),
            (Exchange.KRAKEN, "ETHUSD"),
        }
    )
    assert (POLICY.future_tolerance_us, POLICY.max_age_us) == (5 * SECOND, 30 * DAY)
    assert EARLIEST_TIMESTAMP_US == 1230940800 * SECOND  # 2009-01-03T00:00:00Z


def test_policy_is_configurable_and_refuses_nonsense_limits() -> None:
    policy = ValidationPolicy.for_instruments([("binance", "SOLUSDT")], future_tolerance_us=0)
    assert policy.instruments == {(Exchange.BINANCE, "SOLUSDT")}
    assert policy.exchanges == {Exchange.BINANCE}
    assert policy.future_tolerance_us == 0
    with pytest.raises(ValueError, match="max_age_us"):
        ValidationPolicy(max_age_us=-1)
    with pytest.raises(ValueError, match="coinbase"):
        ValidationPolicy.for_instruments([("coinbase", "BTCUSD")])


# --- trades ------------------------------------------------------------------------------------


def test_a_good_trade_passes_on_both_exchanges() -> None:
    assert validate_trade(make_trade(), POLICY) == []
    kraken = make_trade(kraken_instrument("XBT/USD"), side=Side.BUY)
    assert validate_trade(kraken, POLICY) == []


def test_unknown_exchange() -> None:
    kraken_only = ValidationPolicy.for_instruments([(Exchange.KRAKEN, "BTCUSD")])
    (violation,) = validate_trade(make_trade(), kraken_only)
    assert (violation.code, violation.field) == (ReasonCode.UNKNOWN_EXCHANGE, "exchange")
    assert "binance" in violation.message


def test_unknown_symbol_is_judged_on_the_normalised_symbol_and_is_configurable() -> None:
    trade = make_trade(binance_instrument("ETHBTC"))
    (violation,) = validate_trade(trade, POLICY)
    assert (violation.code, violation.field) == (ReasonCode.UNKNOWN_SYMBOL, "symbol")
    assert "ETHBTC" in violation.message
    assert validate_trade(trade, ValidationPolicy.for_instruments([("binance", "ETHBTC")])) == []
    # Kraken's legacy XBT spelling is the same instrument as BTC once normalised
    assert validate_trade(make_trade(kraken_instrument("XBT/USD")), POLICY) == []


@pytest.mark.parametrize("side", ["HOLD", "buy", None])
def test_invalid_side(side: object) -> None:
    (violation,) = validate_trade(make_trade(side=side), POLICY)
    assert (violation.code, violation.field) == (ReasonCode.INVALID_SIDE, "side")


@pytest.mark.parametrize("side", list(Side))
def test_both_sides_pass(side: Side) -> None:
    assert validate_trade(make_trade(side=side), POLICY) == []


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("price", Decimal("0"), ReasonCode.NON_POSITIVE_PRICE),
        ("price", Decimal("-0.00000001"), ReasonCode.NON_POSITIVE_PRICE),
        ("quantity", Decimal("0E-8"), ReasonCode.NON_POSITIVE_QUANTITY),
        ("quantity", Decimal("-1"), ReasonCode.NON_POSITIVE_QUANTITY),
    ],
)
def test_non_positive_price_or_quantity(field: str, value: Decimal, code: ReasonCode) -> None:
    (violation,) = validate_trade(make_trade(**{field: value}), POLICY)
    assert (violation.code, violation.field) == (code, field)
    assert f"{field} {value:f} is not positive" == violation.message


@pytest.mark.parametrize("field", ["price", "quantity"])
def test_the_smallest_positive_decimal_passes(field: str) -> None:
    assert validate_trade(make_trade(**{field: Decimal("1E-18")}), POLICY) == []


def test_decimal_out_of_range_is_reported_not_raised() -> None:
    largest = Decimal("99999999999999999999.999999999999999999")
    assert check_decimal("price", largest) == []
    assert validate_trade(make_trade(price=largest, quantity=largest), POLICY) == []
    (too_wide,) = check_decimal("price", Decimal("100000000000000000000"))
    assert (too_wide.code, too_wide.field) == (ReasonCode.DECIMAL_OUT_OF_RANGE, "price")
    (too_fine,) = check_decimal("quantity", Decimal("1E-19"))
    assert too_fine.code is ReasonCode.DECIMAL_OUT_OF_RANGE
    # a trade cannot be built with such a value; forced into one, the rule still reports it
    trade = forced(make_trade(), quantity=Decimal("1E-19"))
    assert codes(validate_trade(trade, POLICY)) == [ReasonCode.DECIMAL_OUT_OF_RANGE]


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity"), 1.5])
def test_a_value_that_is_no_decimal_is_reported_not_raised(value: object) -> None:
    trade = forced(make_trade(), price=value)
    assert codes(validate_trade(trade, POLICY)) == [ReasonCode.INVALID_DECIMAL]
    quote = forced(make_quote(), ask_price=value)
    assert codes(validate_quote(quote, POLICY)) == [ReasonCode.INVALID_DECIMAL]


def test_timestamp_in_the_future_beyond_the_tolerance() -> None:
    tolerance = POLICY.future_tolerance_us
    assert validate_trade(make_trade(timestamp=RECEIVED + tolerance), POLICY) == []
    (violation,) = validate_trade(make_trade(timestamp=RECEIVED + tolerance + 1), POLICY)
    assert (violation.code, violation.field) == (ReasonCode.TIMESTAMP_IN_FUTURE, "timestamp")
    assert "5.000001 s after it was received" in violation.message


def test_timestamp_too_old_for_its_receipt() -> None:
    oldest = RECEIVED - DEFAULT_MAX_AGE_US
    assert validate_trade(make_trade(timestamp=oldest), POLICY) == []
    (violation,) = validate_trade(make_trade(timestamp=oldest - 1), POLICY)
    assert (violation.code, violation.field) == (ReasonCode.TIMESTAMP_TOO_OLD, "timestamp")


def test_timestamp_before_2009_01_03() -> None:
    early = ValidationPolicy(max_age_us=20 * 365 * DAY)
    at_genesis = make_trade(timestamp=EARLIEST_TIMESTAMP_US, ingestion_timestamp=RECEIVED)
    assert validate_trade(at_genesis, early) == []
    (violation,) = validate_trade(make_trade(timestamp=EARLIEST_TIMESTAMP_US - 1), early)
    assert (violation.code, violation.field) == (ReasonCode.TIMESTAMP_BEFORE_EARLIEST, "timestamp")
    assert "2009-01-02T23:59:59.999999Z" in violation.message


def test_ingestion_timestamp_before_2009_is_reported_too() -> None:
    trade = make_trade(timestamp=0, ingestion_timestamp=0)
    assert codes(validate_trade(trade, POLICY)) == [
        ReasonCode.TIMESTAMP_BEFORE_EARLIEST,
        ReasonCode.TIMESTAMP_BEFORE_EARLIEST,
    ]
    assert [v.field for v in validate_trade(trade, POLICY)] == ["timestamp", "ingestion_timestamp"]


def test_time_rules_use_the_receipt_time_not_the_clock_so_a_replay_agrees() -> None:
    # a trade of 2015, received in 2015: valid today and in any year it is replayed
    received_2015 = 1430000000 * SECOND
    trade = make_trade(timestamp=received_2015 - SECOND, ingestion_timestamp=received_2015)
    assert validate_trade(trade, POLICY) == []
    # far beyond what a datetime can hold: reported with its number, never raised
    huge = make_trade(timestamp=2**63 - 1)
    (violation,) = validate_trade(huge, POLICY)
    assert violation.code is ReasonCode.TIMESTAMP_IN_FUTURE
    assert str(2**63 - 1) in violation.message


def test_every_broken_rule_is_listed_in_a_fixed_order() -> None:
    trade = make_trade(
        binance_instrument("ETHBTC"),
        price=Decimal("0"),
        quantity=Decimal("-1"),
        timestamp=RECEIVED + DAY,
    )
    assert codes(validate_trade(trade, POLICY)) == [
        ReasonCode.UNKNOWN_SYMBOL,
        ReasonCode.NON_POSITIVE_PRICE,
        ReasonCode.NON_POSITIVE_QUANTITY,
        ReasonCode.TIMESTAMP_IN_FUTURE,
    ]


# --- quotes ------------------------------------------------------------------------------------


def test_a_good_quote_passes_and_a_locked_book_is_not_crossed() -> None:
    assert validate_quote(make_quote(), POLICY) == []
    locked = make_quote(bid_price=Decimal("104250.2"), ask_price=Decimal("104250.20"))
    assert validate_quote(locked, POLICY) == []


def test_crossed_book() -> None:
    crossed = make_quote(bid_price=Decimal("104250.21"), ask_price=Decimal("104250.2"))
    (violation,) = validate_quote(crossed, POLICY)
    assert (violation.code, violation.field) == (ReasonCode.CROSSED_BOOK, "bid_price")
    assert "104250.21" in violation.message and "104250.2" in violation.message


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("bid_quantity", ReasonCode.NON_POSITIVE_QUANTITY),
        ("ask_quantity", ReasonCode.NON_POSITIVE_QUANTITY),
        ("ask_price", ReasonCode.NON_POSITIVE_PRICE),
    ],
)
def test_non_positive_quote_values(field: str, code: ReasonCode) -> None:
    (violation,) = validate_quote(make_quote(**{field: Decimal("0.00000000")}), POLICY)
    assert (violation.code, violation.field) == (code, field)


def test_a_zero_price_is_non_positive_and_not_also_crossed() -> None:
    for field in ("bid_price", "ask_price"):
        quote = make_quote(**{field: Decimal("0")})
        assert codes(validate_quote(quote, POLICY)) == [ReasonCode.NON_POSITIVE_PRICE]


def test_quote_times_are_checked_only_when_the_exchange_sends_one() -> None:
    binance_quote = make_quote(
        binance_instrument("BTCUSDT"), quote_key="71234567890", update_id=71234567890
    )
    without_time = dataclasses.replace(binance_quote, exchange_timestamp=None)
    assert validate_quote(without_time, POLICY) == []
    ahead = make_quote(exchange_timestamp=RECEIVED + 5 * SECOND + 1)
    (violation,) = validate_quote(ahead, POLICY)
    assert (violation.code, violation.field) == (
        ReasonCode.TIMESTAMP_IN_FUTURE,
        "exchange_timestamp",
    )
    old = make_quote(exchange_timestamp=RECEIVED - DEFAULT_MAX_AGE_US - 1)
    assert codes(validate_quote(old, POLICY)) == [ReasonCode.TIMESTAMP_TOO_OLD]


def test_quote_unknown_symbol_and_exchange() -> None:
    eth_btc = make_quote(kraken_instrument("ETH/BTC"))
    assert codes(validate_quote(eth_btc, POLICY)) == [ReasonCode.UNKNOWN_SYMBOL]
    binance_only = ValidationPolicy.for_instruments([("binance", "BTCUSDT")])
    assert codes(validate_quote(make_quote(), binance_only)) == [ReasonCode.UNKNOWN_EXCHANGE]


# --- properties --------------------------------------------------------------------------------

ASSETS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=6)
MICROS = st.integers(min_value=0, max_value=2**63 - 1)
# Any decimal(38, 18) value, built from its digits so nothing is rounded on the way.
DECIMALS = st.integers(min_value=-(10**38) + 1, max_value=10**38 - 1).map(
    lambda units: Decimal(f"{units}E-18")
)


@st.composite
def instruments(draw: st.DrawFn) -> Instrument:
    exchange = draw(st.sampled_from(Exchange))
    base, quote = draw(st.sampled_from(["BTC", "ETH"]) | ASSETS), draw(ASSETS)
    return Instrument(exchange, f"{base}/{quote}", base, quote)


POLICIES = st.builds(
    ValidationPolicy,
    instruments=st.just(DEFAULT_INSTRUMENTS),
    future_tolerance_us=st.integers(0, 2**63),
    max_age_us=st.integers(0, 2**63),
)


@given(
    instrument=instruments(),
    trade_id=MICROS,
    timestamp=MICROS,
    ingestion_timestamp=MICROS,
    price=DECIMALS,
    quantity=DECIMALS,
    side=st.sampled_from(Side),
    policy=POLICIES,
)
def test_validate_trade_never_raises(
    instrument: Instrument,
    trade_id: int,
    timestamp: int,
    ingestion_timestamp: int,
    price: Decimal,
    quantity: Decimal,
    side: Side,
    policy: ValidationPolicy,
) -> None:
    trade = TradeV2.create(
        instrument,
        trade_id=trade_id,
        timestamp=timestamp,
        price=price,
        quantity=quantity,
        side=side,
        ingestion_timestamp=ingestion_timestamp,
    )
    violations = validate_trade(trade, policy)
    assert {v.code for v in violations} <= REASON_CODES[ReasonClass.VALIDATE]
    assert all(v.message for v in violations)
    assert validate_trade(trade, policy) == violations  # deterministic
    if price > 0 and quantity > 0 and timestamp == ingestion_timestamp >= EARLIEST_TIMESTAMP_US:
        assert codes(violations) in ([], [ReasonCode.UNKNOWN_SYMBOL])


@given(
    instrument=instruments(),
    exchange_timestamp=st.none() | MICROS,
    ingestion_timestamp=MICROS,
    values=st.tuples(DECIMALS, DECIMALS, DECIMALS, DECIMALS),
    policy=POLICIES,
)
def test_validate_quote_never_raises(
    instrument: Instrument,
    exchange_timestamp: int | None,
    ingestion_timestamp: int,
    values: tuple[Decimal, Decimal, Decimal, Decimal],
    policy: ValidationPolicy,
) -> None:
    bid_price, bid_quantity, ask_price, ask_quantity = values
    quote = QuoteV2.create(
        instrument,
        quote_key="k",
        update_id=None,
        exchange_timestamp=exchange_timestamp,
        bid_price=bid_price,
        bid_quantity=bid_quantity,
        ask_price=ask_price,
        ask_quantity=ask_quantity,
        ingestion_timestamp=ingestion_timestamp,
    )
    violations = validate_quote(quote, policy)
    assert {v.code for v in violations} <= REASON_CODES[ReasonClass.VALIDATE]
    crossed = ask_price > 0 and bid_price > ask_price
    assert (ReasonCode.CROSSED_BOOK in codes(violations)) == crossed


def test_violation_is_a_plain_value() -> None:
    violation = Violation(ReasonCode.CROSSED_BOOK, "bid_price", "crossed")
    assert violation == Violation(ReasonCode.CROSSED_BOOK, "bid_price", "crossed")
    assert violation.code == "crossed_book"
