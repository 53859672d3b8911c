"""The HTTP layer's own small rules: defaults, lists, intervals, correlation ids, caching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from k2.api import correlation, request_params
from k2.api.middleware import cache_control
from k2.api.routes.analytics import parse_interval
from k2.query.errors import InvalidParameterError, TimestampWithoutZoneError

pytestmark = pytest.mark.unit


def test_lists_split_on_commas_and_blank_means_all() -> None:
    assert request_params.split_list(" btcusdt, ETHUSDT ,,") == ("btcusdt", "ETHUSDT")
    assert request_params.split_list(None) == () == request_params.split_list(" , ")
    assert request_params.fields_list("") is None


def test_a_missing_window_ends_now_and_spans_the_default() -> None:
    before = datetime.now(UTC)
    start, end = request_params.window(None, None, timedelta(hours=1))
    assert before <= end <= datetime.now(UTC)
    assert start == end - timedelta(hours=1)
    start, end = request_params.window(None, "2026-01-02T00:00:00+02:00", timedelta(days=1))
    assert end == datetime(2026, 1, 1, 22, tzinfo=UTC) and start == datetime(
        2026, 1, 1, tzinfo=UTC
    ) - timedelta(hours=2)
    assert (
        request_params.window("2026-01-01T00:00:00Z", None, timedelta(1))[0]
        == "2026-01-01T00:00:00Z"
    )
    with pytest.raises(TimestampWithoutZoneError):
        request_params.window(None, "2026-01-02T00:00:00", timedelta(1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1min", timedelta(minutes=1)),
        ("15MIN", timedelta(minutes=15)),
        ("1hour", timedelta(hours=1)),
        ("1day", timedelta(days=1)),
        ("30s", timedelta(seconds=30)),
        ("4h", timedelta(hours=4)),
        (" 2d ", timedelta(days=2)),
    ],
)
def test_intervals_by_name_or_count_and_unit(text: str, expected: timedelta) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize("text", ["", "0m", "1w", "m5", "1.5h", "-1h", "1 hour", "9999999s"])
def test_other_intervals_are_refused(text: str) -> None:
    with pytest.raises(InvalidParameterError):
        parse_interval(text)


def test_correlation_ids_are_echoed_only_when_safe() -> None:
    assert correlation.choose("abc-123", "req-1") == "abc-123"
    assert correlation.choose("bad id\r\n", "req-1") == "req-1"
    assert correlation.choose("x" * 65, None) != "x" * 65
    generated = correlation.choose(None, None)
    assert len(generated) == 32 and generated != correlation.choose(None, None)


def test_only_successful_gets_are_cacheable() -> None:
    assert cache_control("GET", "/v1/symbols", 200) == "private, max-age=300"
    assert cache_control("GET", "/v1/ohlcv/1h", 200) == "private, max-age=30"
    assert cache_control("GET", "/v1/ohlcv/health", 200) == "no-store"
    assert cache_control("GET", "/v1/trades", 400) == "no-store"
    assert cache_control("POST", "/v1/trades/query", 200) == "no-store"
    assert cache_control("GET", "/health", 200) == "no-store"
