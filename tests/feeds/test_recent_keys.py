"""RecentKeys: a bounded memory of quote keys that recognises the copies an overlap delivers."""

from __future__ import annotations

import pytest

from k2.feeds.recent_keys import RecentKeys

pytestmark = pytest.mark.unit


def test_a_key_is_new_once_and_a_copy_afterwards() -> None:
    keys = RecentKeys(capacity=10)

    assert keys.first_sighting("BTCUSDT:1") is True
    assert keys.first_sighting("BTCUSDT:1") is False
    assert keys.first_sighting("BTCUSDT:1") is False
    assert keys.first_sighting("BTCUSDT:2") is True
    assert len(keys) == 2


def test_a_copy_does_not_take_a_second_place() -> None:
    keys = RecentKeys(capacity=2)
    keys.first_sighting("a")
    keys.first_sighting("a")
    keys.first_sighting("b")

    assert len(keys) == 2
    assert keys.first_sighting("a") is False
    assert keys.first_sighting("b") is False


def test_at_capacity_the_oldest_key_is_forgotten_first() -> None:
    keys = RecentKeys(capacity=3)
    for key in ("a", "b", "c"):
        assert keys.first_sighting(key)

    assert keys.first_sighting("d") is True  # pushes out "a", the oldest
    assert len(keys) == 3
    assert keys.first_sighting("b") is False
    assert keys.first_sighting("c") is False
    assert keys.first_sighting("d") is False
    assert keys.first_sighting("a") is True  # forgotten, so new again; pushes out "b"
    assert keys.first_sighting("b") is True
    assert len(keys) == 3


def test_a_copy_does_not_refresh_a_key() -> None:
    """Insertion order, not last sighting, decides what goes: copies arrive close together."""
    keys = RecentKeys(capacity=2)
    keys.first_sighting("a")
    keys.first_sighting("b")
    keys.first_sighting("a")  # a copy: "a" stays the oldest

    keys.first_sighting("c")

    assert keys.first_sighting("b") is False
    assert keys.first_sighting("a") is True


def test_capacity_one_remembers_only_the_last_key() -> None:
    keys = RecentKeys(capacity=1)
    assert keys.first_sighting("a")
    assert not keys.first_sighting("a")
    assert keys.first_sighting("b")
    assert keys.first_sighting("a")
    assert len(keys) == 1


def test_the_default_capacity_holds_4096_keys() -> None:
    keys = RecentKeys()
    for number in range(4096):
        assert keys.first_sighting(str(number))
    assert not keys.first_sighting("0")
    assert keys.first_sighting("4096")
    assert keys.first_sighting("0")  # forgotten when the 4097th key came
    assert len(keys) == 4096


@pytest.mark.parametrize("capacity", [0, -1])
def test_a_capacity_below_one_is_refused(capacity: int) -> None:
    with pytest.raises(ValueError, match="capacity must be positive"):
        RecentKeys(capacity)
