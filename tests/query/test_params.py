"""Request values: zoned times only, case-insensitive symbols and exchanges, bounded ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from k2.query.errors import (
    InvalidExchangeError,
    InvalidParameterError,
    InvalidSymbolError,
    InvalidTimeRangeError,
    InvalidTimestampError,
    LimitExceededError,
    TimeRangeTooLargeError,
    TimestampWithoutZoneError,
)
from k2.query.params import (
    check_limit,
    from_micros,
    normalise_exchanges,
    normalise_symbols,
    parse_time,
    time_range,
)

pytestmark = pytest.mark.unit


def test_times_need_a_zone_and_become_utc_micros() -> None:
    assert parse_time("1970-01-01T00:00:01Z") == 1_000_000
    assert parse_time("1970-01-01T02:00:00.000001+02:00") == 1
    assert parse_time(datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == 0
    assert from_micros(1) == datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    for naive in ("2026-01-01T00:00:00", datetime(2026, 1, 1)):
        with pytest.raises(TimestampWithoutZoneError) as refused:
            parse_time(naive)
        assert refused.value.code == "timestamp_without_zone"
    for bad in ("yesterday", "2026-13-01T00:00:00Z", "x" * 100, "' OR 1=1 --"):
        with pytest.raises(InvalidTimestampError):
            parse_time(bad)


def test_ranges_are_half_open_non_empty_and_bounded() -> None:
    span = time_range("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z")
    assert span.span == timedelta(days=1)
    assert span.check_span(timedelta(days=1)) is span
    with pytest.raises(TimeRangeTooLargeError):
        span.check_span(timedelta(hours=23))
    with pytest.raises(InvalidTimeRangeError):
        time_range("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z")


def test_symbols_and_exchanges_are_case_insensitive_and_checked() -> None:
    assert normalise_symbols([" btcusdt", "BTCUSDT", "EthUsdt"]) == ("BTCUSDT", "ETHUSDT")
    assert normalise_exchanges(["BINANCE", "Kraken", "binance"]) == ("binance", "kraken")
    for bad in ("BTC/USD", "BTCUSDT' OR '1'='1", "", "x" * 40):
        with pytest.raises(InvalidSymbolError):
            normalise_symbols([bad])
    with pytest.raises(InvalidExchangeError):
        normalise_exchanges(["coinbase"])
    with pytest.raises(LimitExceededError):
        normalise_symbols([f"S{i}X" for i in range(101)])


def test_limits() -> None:
    assert check_limit(10, 10) == 10
    with pytest.raises(LimitExceededError):
        check_limit(11, 10)
    for bad in (0, -1, True):
        with pytest.raises(InvalidParameterError):
            check_limit(bad, 10)
