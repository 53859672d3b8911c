"""API keys and usage plans: the token bucket, the UTC quota periods and the config file."""

from __future__ import annotations

import json
import stat
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k2.local.usage_plans import (
    DEMO_KEY_NAME,
    ApiKey,
    Outcome,
    Plan,
    Quota,
    QuotaPeriod,
    UsagePlans,
    UsagePlansConfig,
    UsagePlansError,
    create_demo_usage_plans,
    load_usage_plans,
    period_bounds,
)

pytestmark = pytest.mark.unit

NOON = datetime(2026, 11, 26, 12, 0, tzinfo=UTC).timestamp()  # a Thursday


class FakeClock:
    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _key(key_id: str, plan: str = "plan") -> ApiKey:
    return ApiKey(
        id=key_id, name=f"key {key_id}", value=f"value-of-{key_id}-" + "x" * 20, plan=plan
    )


def _plans(plan: Plan, clock: FakeClock, *key_ids: str) -> UsagePlans:
    keys = [_key(key_id) for key_id in key_ids or ("k1",)]
    return UsagePlans(UsagePlansConfig(keys=keys, plans={"plan": plan}), clock)


def _outcomes(plans: UsagePlans, key: ApiKey, count: int) -> list[Outcome]:
    return [plans.admit(key).outcome for _ in range(count)]


# --- throttle: a token bucket ------------------------------------------------------------------


def test_a_full_burst_then_the_steady_rate() -> None:
    clock = FakeClock()
    plans = _plans(Plan(rate_limit=2, burst_limit=5), clock)
    key = plans.keys[0]
    assert _outcomes(plans, key, 5) == [Outcome.ALLOWED] * 5
    throttled = plans.admit(key)
    assert throttled.outcome is Outcome.THROTTLED
    assert throttled.retry_after_s == 1
    for _ in range(10):  # steady state: one request every 1/rate seconds
        clock.advance(0.5)
        assert plans.admit(key).allowed
        assert plans.admit(key).outcome is Outcome.THROTTLED


def test_the_bucket_refills_up_to_the_burst_limit_only() -> None:
    clock = FakeClock()
    plans = _plans(Plan(rate_limit=10, burst_limit=4), clock)
    key = plans.keys[0]
    _outcomes(plans, key, 4)
    clock.advance(3600)
    assert _outcomes(plans, key, 5) == [Outcome.ALLOWED] * 4 + [Outcome.THROTTLED]


def test_retry_after_is_the_time_until_a_token_rounded_up() -> None:
    clock = FakeClock()
    plans = _plans(Plan(rate_limit=0.25, burst_limit=1), clock)  # a token every 4 s
    key = plans.keys[0]
    assert plans.admit(key).allowed
    assert plans.admit(key).retry_after_s == 4
    clock.advance(1)
    assert plans.admit(key).retry_after_s == 3
    clock.advance(2.5)
    assert plans.admit(key).retry_after_s == 1  # 0.5 s left
    clock.advance(0.5)
    assert plans.admit(key).allowed


def test_throttled_requests_do_not_use_tokens() -> None:
    clock = FakeClock()
    plans = _plans(Plan(rate_limit=1, burst_limit=1), clock)
    key = plans.keys[0]
    plans.admit(key)
    _outcomes(plans, key, 50)  # all refused
    clock.advance(1)
    assert plans.admit(key).allowed


def test_a_clock_stepping_back_refills_nothing() -> None:
    clock = FakeClock()
    plans = _plans(Plan(rate_limit=1, burst_limit=1), clock)
    key = plans.keys[0]
    plans.admit(key)
    clock.advance(-30)
    assert plans.admit(key).outcome is Outcome.THROTTLED


def test_keys_are_throttled_independently() -> None:
    clock = FakeClock()
    plans = _plans(Plan(rate_limit=1, burst_limit=2), clock, "k1", "k2")
    first, second = plans.keys
    assert _outcomes(plans, first, 3) == [Outcome.ALLOWED, Outcome.ALLOWED, Outcome.THROTTLED]
    assert _outcomes(plans, second, 2) == [Outcome.ALLOWED, Outcome.ALLOWED]


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.1, max_value=100),
    burst=st.integers(min_value=1, max_value=50),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=200),
)
def test_never_more_than_the_burst_plus_the_rate_over_any_span(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = FakeClock()
    plans = _plans(Plan(rate_limit=rate, burst_limit=burst), clock)
    key = plans.keys[0]
    allowed = 0
    for gap in gaps:
        clock.advance(gap)
        decision = plans.admit(key)
        if decision.allowed:
            allowed += 1
        else:
            assert decision.retry_after_s is not None
            assert 1 <= decision.retry_after_s <= max(1, int(1 / rate) + 1)
    assert allowed <= burst + rate * (clock.now - NOON) + 1e-6


@settings(max_examples=100, deadline=None)
@given(rate=st.floats(min_value=0.1, max_value=100), count=st.integers(1, 100))
def test_requests_spaced_at_the_rate_are_all_allowed(rate: float, count: int) -> None:
    clock = FakeClock()
    plans = _plans(Plan(rate_limit=rate, burst_limit=1), clock)
    key = plans.keys[0]
    for _ in range(count):
        assert plans.admit(key).allowed
        clock.advance(1.001 / rate)  # a hair over 1/rate: epoch floats are not exact


def test_concurrent_decisions_hand_out_each_token_once() -> None:
    clock = FakeClock()  # frozen: no refill, so exactly the burst is allowed
    plans = _plans(Plan(rate_limit=1, burst_limit=300), clock)
    key = plans.keys[0]
    allowed: list[int] = []

    def client() -> None:
        allowed.append(sum(plans.admit(key).allowed for _ in range(100)))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 300


# --- quota: requests per UTC period ------------------------------------------------------------


def test_the_quota_resets_at_utc_midnight() -> None:
    clock = FakeClock(datetime(2026, 11, 26, 23, 59, 58, tzinfo=UTC).timestamp())
    plan = Plan(rate_limit=100, burst_limit=100, quota=Quota(limit=3, period=QuotaPeriod.DAY))
    plans = _plans(plan, clock)
    key = plans.keys[0]
    assert _outcomes(plans, key, 3) == [Outcome.ALLOWED] * 3
    exceeded = plans.admit(key)
    assert exceeded.outcome is Outcome.QUOTA_EXCEEDED
    assert exceeded.retry_after_s == 2
    clock.advance(1.5)
    assert plans.admit(key).retry_after_s == 1
    clock.advance(0.5)  # 00:00:00 on the 27th
    assert _outcomes(plans, key, 4) == [Outcome.ALLOWED] * 3 + [Outcome.QUOTA_EXCEEDED]


def test_refused_requests_count_towards_neither_limit() -> None:
    clock = FakeClock()
    plan = Plan(rate_limit=1, burst_limit=1, quota=Quota(limit=2, period=QuotaPeriod.DAY))
    plans = _plans(plan, clock)
    key = plans.keys[0]
    assert plans.admit(key).allowed
    assert _outcomes(plans, key, 20) == [Outcome.THROTTLED] * 20  # not counted in the quota
    clock.advance(1)
    assert plans.admit(key).allowed
    clock.advance(1)
    assert plans.admit(key).outcome is Outcome.QUOTA_EXCEEDED
    clock.advance(86400)
    assert plans.admit(key).allowed  # the refusal used no token either


def test_the_quota_is_per_key() -> None:
    clock = FakeClock()
    plan = Plan(rate_limit=100, burst_limit=100, quota=Quota(limit=1, period=QuotaPeriod.MONTH))
    plans = _plans(plan, clock, "k1", "k2")
    first, second = plans.keys
    assert _outcomes(plans, first, 2) == [Outcome.ALLOWED, Outcome.QUOTA_EXCEEDED]
    assert plans.admit(second).allowed


@pytest.mark.parametrize(
    ("period", "now", "start", "end"),
    [
        (
            QuotaPeriod.DAY,
            datetime(2026, 11, 26, 12, 0),
            datetime(2026, 11, 26),
            datetime(2026, 11, 27),
        ),
        (
            QuotaPeriod.WEEK,
            datetime(2026, 11, 26, 12, 0),
            datetime(2026, 11, 22),
            datetime(2026, 11, 29),
        ),
        (
            QuotaPeriod.WEEK,
            datetime(2026, 11, 22, 0, 0),
            datetime(2026, 11, 22),
            datetime(2026, 11, 29),
        ),
        (
            QuotaPeriod.WEEK,
            datetime(2026, 11, 21, 23, 59),
            datetime(2026, 11, 15),
            datetime(2026, 11, 22),
        ),
        (
            QuotaPeriod.MONTH,
            datetime(2026, 11, 26, 12, 0),
            datetime(2026, 11, 1),
            datetime(2026, 12, 1),
        ),
        (
            QuotaPeriod.MONTH,
            datetime(2026, 12, 31, 23, 59),
            datetime(2026, 12, 1),
            datetime(2027, 1, 1),
        ),
        (
            QuotaPeriod.MONTH,
            datetime(2028, 2, 29, 1, 0),
            datetime(2028, 2, 1),
            datetime(2028, 3, 1),
        ),
    ],
)
def test_periods_are_utc_days_weeks_from_sunday_and_months(
    period: QuotaPeriod, now: datetime, start: datetime, end: datetime
) -> None:
    bounds = period_bounds(period, now.replace(tzinfo=UTC).timestamp())
    assert bounds == (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))


def test_a_monthly_quota_says_when_the_month_ends() -> None:
    clock = FakeClock(datetime(2026, 12, 31, 23, 0, tzinfo=UTC).timestamp())
    plan = Plan(rate_limit=100, burst_limit=100, quota=Quota(limit=1, period=QuotaPeriod.MONTH))
    plans = _plans(plan, clock)
    key = plans.keys[0]
    plans.admit(key)
    assert plans.admit(key).retry_after_s == 3600


# --- keys and the file -------------------------------------------------------------------------


def _write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document))
    return path


def _document() -> dict[str, object]:
    return {
        "keys": [{"id": "abc123defg", "name": "ci", "value": "v" * 40, "plan": "basic"}],
        "plans": {
            "basic": {"rate_limit": 5, "burst_limit": 10, "quota": {"limit": 100, "period": "WEEK"}}
        },
    }


def test_a_valid_file_loads_and_finds_keys_by_value(tmp_path: Path) -> None:
    config = load_usage_plans(_write(tmp_path / "plans.json", _document()))
    plans = UsagePlans(config)
    key = plans.find_key("v" * 40)
    assert key is not None and key.id == "abc123defg"
    assert plans.find_key("w" * 40) is None
    assert plans.find_key(None) is None
    assert config.plans["basic"].quota == Quota(limit=100, period=QuotaPeriod.WEEK)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["plans"]["basic"].update(rate_limit=-1), "plans.basic.rate_limit"),
        (lambda d: d["plans"]["basic"]["quota"].update(period="YEAR"), "plans.basic.quota.period"),
        (lambda d: d["keys"][0].update(value="short"), "keys.0.value"),
        (lambda d: d["keys"][0].update(value="comma," * 5), "keys.0.value"),
        (lambda d: d["keys"][0].pop("plan"), "keys.0.plan"),
        (lambda d: d["keys"][0].update(plan="gold"), "'gold', which is not in plans"),
        (lambda d: d["keys"].append(dict(d["keys"][0])), "two keys share an id"),
        (lambda d: d.update(extra=1), "extra"),
    ],
)
def test_an_invalid_file_names_the_file_and_the_field(
    tmp_path: Path, change: object, field: str
) -> None:
    document = _document()
    change(document)  # type: ignore[operator]
    path = _write(tmp_path / "plans.json", document)
    with pytest.raises(UsagePlansError) as raised:
        load_usage_plans(path)
    assert str(path) in str(raised.value)
    assert field in str(raised.value)


def test_a_file_that_is_not_json_or_missing_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"keys": [,]}')
    with pytest.raises(UsagePlansError, match=r"broken\.json: not JSON \(line 1"):
        load_usage_plans(broken)
    with pytest.raises(UsagePlansError, match=r"missing\.json: cannot read"):
        load_usage_plans(tmp_path / "missing.json")


def test_the_demo_file_is_private_random_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "api-gateway" / "usage-plans.json"
    assert create_demo_usage_plans(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = load_usage_plans(path)
    [key] = config.keys
    assert key.name == DEMO_KEY_NAME and key.plan == "default" and len(key.value) >= 40
    assert config.plans["default"] == Plan(
        rate_limit=50, burst_limit=100, quota=Quota(limit=1_000_000, period=QuotaPeriod.DAY)
    )
    before = path.read_text()
    assert not create_demo_usage_plans(path)
    assert path.read_text() == before
    other = tmp_path / "other.json"
    create_demo_usage_plans(other)
    assert load_usage_plans(other).keys[0].value != key.value
