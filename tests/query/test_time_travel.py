"""Which snapshot was current at a time, and time-travel requests that cannot be served."""

from __future__ import annotations

import pytest

from k2.query.errors import AsOfBeforeFirstSnapshotError, InvalidTimeTravelError, QueryError
from k2.query.time_travel import TimeTravel, snapshot_current_at

pytestmark = pytest.mark.unit

LOG = [(1_000, 11), (2_000, 22), (2_000, 23), (5_000, 11)]  # (ms, id); 11 again: a rollback


def test_the_snapshot_current_at_a_time_follows_the_log() -> None:
    assert snapshot_current_at(LOG, 1_000_000) == 11  # committed at exactly that instant
    assert snapshot_current_at(LOG, 1_999_999) == 11
    assert snapshot_current_at(LOG, 2_000_000) == 23  # the last commit of that millisecond
    assert snapshot_current_at(LOG, 4_999_999) == 23
    assert snapshot_current_at(LOG, 10**15) == 11  # rolled back: the log, not the newest id
    with pytest.raises(AsOfBeforeFirstSnapshotError) as early:
        snapshot_current_at(LOG, 999_999)
    assert early.value.code == "as_of_before_first_snapshot" and early.value.status == 404
    with pytest.raises(AsOfBeforeFirstSnapshotError):
        snapshot_current_at([], 10**15)


def test_time_travel_requests_are_checked_when_made() -> None:
    assert TimeTravel(as_of="2026-01-01T00:00:00Z").as_of is not None
    with pytest.raises(InvalidTimeTravelError):
        TimeTravel(snapshot_id=1, as_of="2026-01-01T00:00:00Z")
    with pytest.raises(QueryError) as naive:
        TimeTravel(as_of="2026-01-01T00:00:00")
    assert naive.value.code == "timestamp_without_zone"
    with pytest.raises(InvalidTimeTravelError):
        TimeTravel(snapshot_id="1")  # type: ignore[arg-type]
