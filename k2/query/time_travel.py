"""Iceberg time travel: which snapshot a read sees, and a table's snapshot list.

Works on a loaded table's metadata only (no catalog or S3 call), so the engine can resolve a
snapshot against cached metadata and reload once if the id is newer than the cache.

"As of" a time means the snapshot that was the table's *current* snapshot at that time: the
last entry of the snapshot log (``history``) committed at or before it. The log, not the
snapshot list, is the record of what was current (a rollback makes an older snapshot current
again). Snapshot commit times are milliseconds; a snapshot committed at ``ms`` is current from
``ms x 1000`` µs on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pyiceberg.table import Table

from k2.query.errors import (
    AsOfBeforeFirstSnapshotError,
    InvalidTimeTravelError,
    SnapshotExpiredError,
    SnapshotNotFoundError,
)
from k2.query.limits import MAX_SNAPSHOTS
from k2.query.params import from_micros, parse_time


@dataclass(frozen=True, slots=True)
class TimeTravel:
    """At most one of a snapshot id and an ``as_of`` time; neither reads the current state."""

    snapshot_id: int | None = None
    as_of: str | datetime | None = None

    def __post_init__(self) -> None:
        if self.snapshot_id is not None and self.as_of is not None:
            raise InvalidTimeTravelError("give a snapshot id or an as_of time, not both")
        if self.snapshot_id is not None and (
            isinstance(self.snapshot_id, bool) or not isinstance(self.snapshot_id, int)
        ):
            raise InvalidTimeTravelError(f"snapshot id must be an integer: {self.snapshot_id!r}")
        if self.as_of is not None:
            parse_time(self.as_of)  # refuse a naive or malformed time now, not at read time


CURRENT = TimeTravel()


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    snapshot_id: int
    parent_id: int | None
    committed_at: datetime
    operation: str
    added_records: int | None
    deleted_records: int | None
    total_records: int | None
    added_data_files: int | None
    summary: dict[str, str]


def snapshot_current_at(log: Sequence[tuple[int, int]], as_of_us: int) -> int:
    """The snapshot id current at ``as_of_us`` from ``(timestamp_ms, snapshot_id)`` log
    entries in commit order; :class:`AsOfBeforeFirstSnapshotError` if none was yet."""
    current = None
    for timestamp_ms, snapshot_id in log:
        if timestamp_ms * 1000 > as_of_us:
            break
        current = snapshot_id
    if current is None:
        first = f" (first snapshot {from_micros(log[0][0] * 1000).isoformat()})" if log else ""
        raise AsOfBeforeFirstSnapshotError(
            f"no snapshot was current at {from_micros(as_of_us).isoformat()}{first}"
        )
    return current


def _history_expired(table: Table) -> bool:
    """Whether older snapshots were expired (some snapshot's parent is gone)."""
    ids = {snapshot.snapshot_id for snapshot in table.metadata.snapshots}
    return any(
        s.parent_snapshot_id is not None and s.parent_snapshot_id not in ids
        for s in table.metadata.snapshots
    )


def resolve_snapshot(table: Table, travel: TimeTravel) -> int | None:
    """The snapshot id a read with ``travel`` sees; None for the current state of a table that
    has no snapshot yet (an empty read)."""
    if travel.snapshot_id is not None:
        if table.snapshot_by_id(travel.snapshot_id) is None:
            raise SnapshotNotFoundError(f"{table.name()[-1]} has no snapshot {travel.snapshot_id}")
        return travel.snapshot_id
    if travel.as_of is None:
        current = table.current_snapshot()
        return None if current is None else current.snapshot_id
    as_of_us = parse_time(travel.as_of)
    log = [(entry.timestamp_ms, entry.snapshot_id) for entry in table.history()]
    try:
        snapshot_id = snapshot_current_at(log, as_of_us)
    except AsOfBeforeFirstSnapshotError:
        if _history_expired(table):
            raise SnapshotExpiredError(
                f"the snapshot current at {from_micros(as_of_us).isoformat()} has been expired"
            ) from None
        raise
    if table.snapshot_by_id(snapshot_id) is None:
        raise SnapshotExpiredError(
            f"snapshot {snapshot_id}, current at {from_micros(as_of_us).isoformat()}, has been "
            "expired"
        )
    return snapshot_id


def _count(summary: dict[str, Any], name: str) -> int | None:
    value = summary.get(name)
    try:
        return None if value is None else int(value)
    except ValueError:
        return None


def list_snapshots(table: Table, limit: int = 100) -> list[SnapshotInfo]:
    """The table's snapshots, newest first, at most ``limit`` (≤ MAX_SNAPSHOTS)."""
    limit = max(1, min(limit, MAX_SNAPSHOTS))
    snapshots = sorted(
        table.metadata.snapshots, key=lambda s: (s.timestamp_ms, s.sequence_number), reverse=True
    )
    result = []
    for snapshot in snapshots[:limit]:
        summary = snapshot.summary
        properties: dict[str, str] = dict(summary.additional_properties) if summary else {}
        result.append(
            SnapshotInfo(
                snapshot_id=snapshot.snapshot_id,
                parent_id=snapshot.parent_snapshot_id,
                committed_at=from_micros(snapshot.timestamp_ms * 1000),
                operation=summary.operation.value if summary else "unknown",
                added_records=_count(properties, "added-records"),
                deleted_records=_count(properties, "deleted-records"),
                total_records=_count(properties, "total-records"),
                added_data_files=_count(properties, "added-data-files"),
                summary=properties,
            )
        )
    return result
