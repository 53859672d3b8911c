"""backoff_delay: exponential reconnect backoff with equal jitter, capped at ``backoff_max``."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k2.feeds.websocket_session import SessionPolicy, backoff_delay

pytestmark = pytest.mark.unit

POLICY = SessionPolicy(stale_after=30.0, backoff_initial=0.5, backoff_max=30.0)


def ceiling(attempt: int, policy: SessionPolicy) -> float:
    return min(policy.backoff_max, policy.backoff_initial * 2.0**attempt)


@pytest.mark.parametrize(
    ("attempt", "expected_ceiling"),
    [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (7, 30.0), (40, 30.0)],
)
def test_the_delay_lies_between_half_the_ceiling_and_the_ceiling(
    attempt: int, expected_ceiling: float
) -> None:
    assert ceiling(attempt, POLICY) == expected_ceiling
    rng = random.Random(attempt)
    delays = [backoff_delay(attempt, POLICY, rng) for _ in range(2_000)]

    assert all(expected_ceiling / 2 <= delay <= expected_ceiling for delay in delays)
    # The jitter spans the whole upper half, not one point of it.
    spread = expected_ceiling / 2
    assert min(delays) < expected_ceiling / 2 + 0.02 * spread
    assert max(delays) > expected_ceiling - 0.02 * spread


def test_the_median_delay_grows_with_the_attempt_until_the_cap() -> None:
    def median(attempt: int) -> float:
        rng = random.Random(7)
        delays = sorted(backoff_delay(attempt, POLICY, rng) for _ in range(501))
        return delays[250]

    medians = [median(attempt) for attempt in range(8)]
    assert medians[:7] == sorted(medians[:7])
    assert all(later > 1.5 * earlier for earlier, later in itertools.pairwise(medians[:7]))
    assert 15.0 <= medians[7] <= 30.0


@given(
    attempt=st.integers(min_value=0, max_value=1_000),
    initial=st.floats(min_value=0.001, max_value=60.0),
    maximum=st.floats(min_value=0.001, max_value=3_600.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_the_delay_is_always_within_bounds(
    attempt: int, initial: float, maximum: float, seed: int
) -> None:
    policy = SessionPolicy(stale_after=1.0, backoff_initial=initial, backoff_max=maximum)
    top = min(maximum, initial * 2.0**attempt)

    delay = backoff_delay(attempt, policy, random.Random(seed))

    assert top / 2 <= delay <= top
    assert delay <= maximum


def test_a_seeded_rng_gives_the_same_delays() -> None:
    first = [backoff_delay(attempt, POLICY, random.Random(42)) for attempt in range(10)]
    second = [backoff_delay(attempt, POLICY, random.Random(42)) for attempt in range(10)]
    rng_a, rng_b = random.Random(42), random.Random(42)
    shared_a = [backoff_delay(attempt, POLICY, rng_a) for attempt in range(10)]
    shared_b = [backoff_delay(attempt, POLICY, rng_b) for attempt in range(10)]

    assert first == second
    assert shared_a == shared_b
    other = [backoff_delay(attempt, POLICY, random.Random(43)) for attempt in range(10)]
    assert other != first


def test_a_very_long_outage_still_waits_the_cap() -> None:
    delay = backoff_delay(1_024, POLICY, random.Random(1))

    assert 15.0 <= delay <= 30.0
