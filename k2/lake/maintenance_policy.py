"""How each K2 table is maintained: compaction targets and retention, derived from its definition.

Pure: no Spark, no I/O. ``k2.jobs.maintenance`` turns a policy into Iceberg procedure calls.

Two kinds of table, told apart by their write modes rather than by their names:

* **Append-only streams** (bronze, silver, ``silver_dlq``): a Structured Streaming query appends a
  few small files every trigger (seconds), so compaction is what keeps reads fast. Their
  snapshots are read back by the next layer's streaming query (silver reads bronze, gold reads
  silver), which is what the retention below protects.
* **Merge-on-read tables** (gold): a MERGE writes new data files plus position delete files, so
  maintenance also folds the deletes into the data and drops the delete files left dangling.

Retention defaults, and why (the same for every layer, because every layer is read by the next):

* ``snapshot_max_age`` (3 days) is the **outage budget of every downstream stream**. An Iceberg
  streaming reader's checkpoint names the last snapshot it processed; on restart it resumes from
  that snapshot and fails ("Cannot load current offset at snapshot …, the snapshot was expired
  or removed") if it is gone. Expiry only removes snapshots older than ``snapshot_max_age``, so
  a reader stopped for less than that always resumes: a job that fails on Friday evening and is
  fixed on Monday morning (~62 h) resumes on its own. Longer costs table metadata: every
  snapshot stays in the metadata file that each commit rewrites and each reader parses (about
  1 KB per snapshot, measured), and a 10-second trigger commits ~8,600 times a day, so 3 days
  is ~26 MB per table. Time travel further back than this needs an Iceberg tag, which expiry
  never removes.
* ``retain_last_snapshots`` (100) keeps the newest snapshots whatever their age. When writes
  stop (a feed down for a week) age-based expiry alone would leave only the current snapshot,
  and a reader that had not caught up would lose its place. It also keeps each writer's last
  commit visible to the Iceberg streaming sink, which walks back through the snapshots to
  recognise an epoch it already committed (its exactly-once check after a crash). 100 cost
  ~100 KB.
* ``orphan_older_than`` (3 days, Iceberg's own default) is longer than any write can be in
  flight (Glue's default job timeout is 48 h), so a file a running job has written but not yet
  committed is never taken for an orphan. Less than 24 h is refused, as Iceberg's procedure
  refuses it.
* Merge-on-read tables (gold) differ only in ``rewrite_deletes``; a table with a write order
  (gold) is compacted with it (``sort``), so time-range reads keep skipping row groups.

Per-table overrides come from the definition's table properties, so they live next to the table
and reach Iceberg too. Where Iceberg has a property for a setting, that property is the override
(so an ``expire_snapshots`` called by hand without arguments honours it as well):

* ``write.target-file-size-bytes``           target size of compacted files
* ``history.expire.max-snapshot-age-ms``     snapshot_max_age
* ``history.expire.min-snapshots-to-keep``   retain_last_snapshots
* ``k2.maintenance.min-input-files``          min_input_files
* ``k2.maintenance.orphan-older-than-hours``  orphan_older_than
* ``k2.maintenance.rewrite-deletes``          rewrite_deletes (true/false)
* ``k2.maintenance.sort``                     sort (true/false)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from k2.lake.table_definition import TableDefinition

TARGET_FILE_SIZE_PROPERTY = "write.target-file-size-bytes"
SNAPSHOT_MAX_AGE_PROPERTY = "history.expire.max-snapshot-age-ms"
RETAIN_LAST_PROPERTY = "history.expire.min-snapshots-to-keep"
MIN_INPUT_FILES_PROPERTY = "k2.maintenance.min-input-files"
ORPHAN_OLDER_THAN_PROPERTY = "k2.maintenance.orphan-older-than-hours"
REWRITE_DELETES_PROPERTY = "k2.maintenance.rewrite-deletes"
SORT_PROPERTY = "k2.maintenance.sort"

MERGE_ON_READ = "merge-on-read"
_ROW_LEVEL_MODES = ("write.delete.mode", "write.update.mode", "write.merge.mode")

# Iceberg's remove_orphan_files refuses a cutoff younger than this (it may corrupt a table that
# is being written); the policy refuses it earlier, when the table is defined.
MIN_ORPHAN_AGE = timedelta(days=1)


@dataclass(frozen=True)
class MaintenancePolicy:
    target_file_size_bytes: int
    """Compacted files are written at about this size."""
    min_input_files: int
    """A partition is compacted once it holds at least this many files to rewrite."""
    snapshot_max_age: timedelta
    """Snapshots younger than this are never expired."""
    retain_last_snapshots: int
    """The newest snapshots kept whatever their age."""
    orphan_older_than: timedelta
    """Unreferenced files are deleted only when older than this."""
    rewrite_deletes: bool
    """Fold delete files into data files and compact the rest (merge-on-read tables)."""
    sort: bool = False
    """Compact with the table's sort order instead of bin-packing (keeps sorted tables sorted)."""

    def __post_init__(self) -> None:
        if self.target_file_size_bytes <= 0:
            raise ValueError(f"target_file_size_bytes must be > 0: {self.target_file_size_bytes}")
        if self.min_input_files < 1:
            raise ValueError(f"min_input_files must be >= 1: {self.min_input_files}")
        if self.snapshot_max_age <= timedelta(0):
            raise ValueError(f"snapshot_max_age must be positive: {self.snapshot_max_age}")
        if self.retain_last_snapshots < 1:
            raise ValueError(f"retain_last_snapshots must be >= 1: {self.retain_last_snapshots}")
        if self.orphan_older_than < MIN_ORPHAN_AGE:
            raise ValueError(
                f"orphan_older_than must be at least {MIN_ORPHAN_AGE} so that files of writes "
                f"still in flight are never deleted: {self.orphan_older_than}"
            )


APPEND_STREAM_POLICY = MaintenancePolicy(
    target_file_size_bytes=128 * 1024 * 1024,
    min_input_files=5,
    snapshot_max_age=timedelta(days=3),
    retain_last_snapshots=100,
    orphan_older_than=timedelta(days=3),
    rewrite_deletes=False,
)
"""Bronze, silver and the DLQ: append-only, written by streams, read by streams."""

MERGE_ON_READ_POLICY = replace(APPEND_STREAM_POLICY, rewrite_deletes=True)
"""Gold: written by MERGE as data plus position deletes, read by the OHLCV job, the API, Athena."""


def is_merge_on_read(table: TableDefinition) -> bool:
    """Whether row-level writes to the table produce delete files."""
    properties = table.all_properties
    return any(properties.get(mode) == MERGE_ON_READ for mode in _ROW_LEVEL_MODES)


def policy_for(table: TableDefinition) -> MaintenancePolicy:
    """The table's layer defaults, with any overrides its properties set."""
    base = MERGE_ON_READ_POLICY if is_merge_on_read(table) else APPEND_STREAM_POLICY
    properties = table.all_properties

    def integer(key: str) -> int | None:
        value = properties.get(key)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{table.name}: {key} must be an integer, not {value!r}") from None

    def boolean(key: str) -> bool | None:
        value = properties.get(key)
        if value is None:
            return None
        if value.strip().lower() not in ("true", "false"):
            raise ValueError(f"{table.name}: {key} must be true or false, not {value!r}")
        return value.strip().lower() == "true"

    target = integer(TARGET_FILE_SIZE_PROPERTY)
    min_input_files = integer(MIN_INPUT_FILES_PROPERTY)
    max_age_ms = integer(SNAPSHOT_MAX_AGE_PROPERTY)
    retain_last = integer(RETAIN_LAST_PROPERTY)
    orphan_hours = integer(ORPHAN_OLDER_THAN_PROPERTY)
    rewrite_deletes = boolean(REWRITE_DELETES_PROPERTY)
    sort = boolean(SORT_PROPERTY)
    if sort and not table.sort_order:
        raise ValueError(f"{table.name}: {SORT_PROPERTY} is true but the table has no sort order")
    try:
        return MaintenancePolicy(
            target_file_size_bytes=base.target_file_size_bytes if target is None else target,
            min_input_files=base.min_input_files if min_input_files is None else min_input_files,
            snapshot_max_age=(
                base.snapshot_max_age if max_age_ms is None else timedelta(milliseconds=max_age_ms)
            ),
            retain_last_snapshots=base.retain_last_snapshots
            if retain_last is None
            else retain_last,
            orphan_older_than=(
                base.orphan_older_than if orphan_hours is None else timedelta(hours=orphan_hours)
            ),
            rewrite_deletes=base.rewrite_deletes if rewrite_deletes is None else rewrite_deletes,
            # A table with a write order stays ordered after compaction unless told otherwise.
            sort=bool(table.sort_order) if sort is None else sort,
        )
    except ValueError as error:
        raise ValueError(f"{table.name}: {error}") from None
