from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k2.domain.decimals import (
    INTEGER_DIGITS,
    PRECISION,
    SCALE,
    check_fits,
    exact_decimal,
    is_decimal_text,
    parse_decimal,
    stored_decimal,
)
from k2.domain.errors import DecimalOutOfRangeError, DomainError, InvalidDecimalError

pytestmark = pytest.mark.unit


def test_chosen_type_is_decimal_38_18() -> None:
    assert (PRECISION, SCALE, INTEGER_DIGITS) == (38, 18, 20)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.001", Decimal("0.001")),
        ("100", Decimal(100)),
        ("104250.10000000", Decimal("104250.1")),
        ("-20.44", Decimal("-20.44")),
        ("1e-5", Decimal("0.00001")),
        ("6423.46326", Decimal("6423.46326")),
    ],
)
def test_parse_decimal_is_exact(text: str, expected: Decimal) -> None:
    assert parse_decimal(text) == expected
    assert is_decimal_text(text)


def test_parse_decimal_keeps_the_exchanges_scale() -> None:
    assert str(parse_decimal("25.35190000")) == "25.35190000"


@pytest.mark.parametrize(
    "text",
    ["", " 1", "1 ", "1.", ".5", "NaN", "nan", "Infinity", "-Infinity", "+1", "1_000", "0x10",
     "1e99999", "1,5", "١٢"],
)  # fmt: skip
def test_parse_decimal_refuses_non_decimals(text: str) -> None:
    assert not is_decimal_text(text)
    with pytest.raises(InvalidDecimalError) as caught:
        parse_decimal(text)
    assert caught.value.reason == "invalid_decimal"


@pytest.mark.parametrize(
    "text",
    [
        "92233720368.54775807",  # the largest value Binance can publish
        "0.000000000000000001",  # 18 fractional digits
        "99999999999999999999.999999999999999999",  # every digit of decimal(38,18)
        "1.50000000000000000000000000",  # trailing zeros carry no value
        "1E+19",
        "0",
        "0E-30",
        "-5.5",
    ],
)
def test_values_that_fit(text: str) -> None:
    value = Decimal(text)
    assert check_fits(value) is value


@pytest.mark.parametrize(
    "text",
    [
        "0.0000000000000000001",  # 19 fractional digits
        "123456789012345678901",  # 21 integer digits
        "1E+20",
        "100000000000000000000.5",
        "1.0000000000000000001",
    ],
)
def test_values_that_do_not_fit_raise_instead_of_rounding(text: str) -> None:
    with pytest.raises(DecimalOutOfRangeError) as caught:
        exact_decimal(text)
    assert caught.value.reason == "decimal_out_of_range"
    assert isinstance(caught.value, DomainError)


def test_non_finite_decimals_never_fit() -> None:
    with pytest.raises(InvalidDecimalError):
        check_fits(Decimal("NaN"))


@given(
    st.integers(min_value=0, max_value=10**20 - 1),
    st.integers(min_value=0, max_value=10**18 - 1),
    st.booleans(),
)
def test_every_value_within_20_integer_and_18_fractional_digits_fits(
    whole: int, fraction: int, negative: bool
) -> None:
    text = f"{'-' if negative else ''}{whole}.{fraction:018d}"
    assert exact_decimal(text) == Decimal(text)


@given(st.integers(min_value=1, max_value=9), st.integers(min_value=19, max_value=40))
def test_any_digit_past_the_scale_is_refused(digit: int, position: int) -> None:
    with pytest.raises(DecimalOutOfRangeError):
        check_fits(Decimal(f"1.{'0' * (position - 1)}{digit}"))


def test_a_stored_decimal_has_the_stored_scale_and_the_same_value() -> None:
    product = Decimal("12345.678900000000000000") * Decimal("1.500000000000000000")
    stored = stored_decimal(product)
    assert stored == product
    assert stored.as_tuple().exponent == -SCALE
    assert stored_decimal(Decimal("1E+5")).as_tuple().exponent == -SCALE


def test_a_value_with_more_fractional_digits_than_stored_is_refused_not_rounded() -> None:
    with pytest.raises(DecimalOutOfRangeError):
        stored_decimal(Decimal("0.1234567890123456789"))
