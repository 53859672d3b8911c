import pytest
from hypothesis import given
from hypothesis import strategies as st

from k2.domain.errors import InvalidTimestampError
from k2.domain.timestamps import TimeUnit, epoch_to_micros, micros_to_rfc3339, rfc3339_to_micros

pytestmark = pytest.mark.unit

# Seconds computed independently with GNU date: date -u -d 2023-09-25T07:48:36Z +%s
KRAKEN_DOC_SECONDS = 1695628116


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-09-25T07:48:36.925533Z", KRAKEN_DOC_SECONDS * 10**6 + 925533),
        ("2023-09-25T07:48:36Z", KRAKEN_DOC_SECONDS * 10**6),
        ("2023-09-25T07:48:36.9Z", KRAKEN_DOC_SECONDS * 10**6 + 900000),
        ("2023-09-25T08:48:36.925533+01:00", KRAKEN_DOC_SECONDS * 10**6 + 925533),
        ("2023-09-25T07:48:36.925533000Z", KRAKEN_DOC_SECONDS * 10**6 + 925533),
        ("1970-01-01T00:00:00.000001Z", 1),
    ],
)
def test_rfc3339_to_micros_is_exact(text: str, expected: int) -> None:
    assert rfc3339_to_micros(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2023-09-25T07:48:36.925533",  # no offset: not an instant
        "2023-09-25T07:48:36.925533001Z",  # nanoseconds would have to be rounded away
        "2023-02-30T00:00:00Z",
        "2023-09-25 07:48",
        "1969-12-31T23:59:59Z",
        "",
        "1695628116.925533",  # Kraken v1 style
        "٢٠٢٣-09-25T07:48:36Z",  # non-ASCII digits
        "2023-09-25T07:48:36+24:00",
    ],
)
def test_rfc3339_refuses_what_it_cannot_represent(text: str) -> None:
    with pytest.raises(InvalidTimestampError):
        rfc3339_to_micros(text)


def test_epoch_unit_is_inferred_from_magnitude() -> None:
    assert epoch_to_micros(1672515782136) == 1672515782136000
    assert epoch_to_micros(1737500000123456) == 1737500000123456


def test_an_explicit_unit_wins() -> None:
    assert epoch_to_micros(5, TimeUnit.MILLISECOND) == 5000
    assert epoch_to_micros(5, TimeUnit.MICROSECOND) == 5


@pytest.mark.parametrize("value", [-1, True, 1.5])
def test_epoch_must_be_a_non_negative_integer(value: object) -> None:
    with pytest.raises(InvalidTimestampError):
        epoch_to_micros(value)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=253402300799999999))
def test_rfc3339_round_trips(micros: int) -> None:
    assert rfc3339_to_micros(micros_to_rfc3339(micros)) == micros
