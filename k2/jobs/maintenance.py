"""Table maintenance while the streams run: bar retention, compaction, snapshot expiry,
orphan-file removal.

Each step is one Iceberg Spark procedure (``CALL glue_catalog.system.<procedure>``), with the
parameters of the table's :class:`~k2.lake.maintenance_policy.MaintenancePolicy`. Table names
come only from table definitions (and are checked to be plain identifiers); nothing a caller
types reaches the SQL.

Why it is safe next to running streams and MERGE jobs:

* Every Iceberg commit is optimistic: a writer that loses the race to the Glue catalog (our
  ``UpdateTable`` honours ``VersionId``, as Glue does) refreshes and re-applies its change, up to
  ``commit.retry.num-retries`` times (``BASE_PROPERTIES``). Compaction commits a ``replace``
  snapshot: a stream's append re-applied on top of it, or the rewrite re-applied on top of an
  append, loses nothing, because neither removes what the other added.
* Compaction runs with ``partial-progress.enabled``: file groups are committed in several
  smaller commits, so a commit that does fail its validation (a concurrent row-level delete
  against a file being rewritten) gives up only that group, which the next run retries;
  ``failed_data_files_count`` in the result counts them.
* ``use-starting-sequence-number`` (Iceberg's default, set explicitly here): compacted files
  carry the data sequence number of the snapshot the rewrite started from, not of the commit.
  Delete files committed by a MERGE while the rewrite ran have a higher sequence number and
  therefore still apply to the rewritten rows; with the commit's number they would silently
  stop applying and deleted rows would come back. (Position deletes against a file being
  rewritten are caught by the rewrite's commit validation instead: that group is not committed.)
* Streaming readers skip ``replace`` snapshots (Iceberg's streaming source processes appends
  only), so compaction is invisible to silver reading bronze and gold reading silver; expiry
  keeps what their checkpoints need (see ``k2.lake.maintenance_policy``).
* Orphan removal never deletes a file younger than the policy's ``orphan_older_than`` (see
  :func:`remove_orphan_files`).
* Bar retention deletes whole UTC days of bars older than the timeframe's retention (see
  :func:`delete_expired_bars`); nothing younger is read or rewritten, and the OHLCV job only
  ever writes recent windows (silver refuses trades older than 30 days) or a backfill's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pyspark.sql import SparkSession

from k2.domain.ohlcv import DEFAULT_RETENTION_DAYS, Timeframe
from k2.lake.maintenance_policy import MaintenancePolicy, policy_for
from k2.lake.table_definition import CATALOG_NAME, TableDefinition
from k2.lake.tables import all_tables, ohlcv_table
from k2.settings import K2Settings

# Compaction commits file groups in up to this many commits, so a conflict costs one group.
PARTIAL_PROGRESS_MAX_COMMITS = 10
# Merge-on-read tables: a data file with at least this many delete files applied is rewritten
# with its deletes folded in, however large it is (Iceberg also rewrites a file once 30% of its
# rows are deleted, its delete-ratio-threshold default).
DELETE_FILE_THRESHOLD = 1

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class MaintenanceResult:
    """What each procedure reported for one table, under the procedure's own output names."""

    table: str
    expired_bars_deleted: int | None = None
    """Bars older than the retention, deleted; None for tables that are not bar tables."""
    rewrite_data_files: dict[str, int] = field(default_factory=dict)
    rewrite_position_delete_files: dict[str, int] | None = None
    """None for tables that are not merge-on-read."""
    expire_snapshots: dict[str, int] = field(default_factory=dict)
    orphan_files_removed: int = 0
    skipped: str | None = None
    """Why nothing was done (the table does not exist yet)."""
    error: str | None = None
    """The step that failed and why; the steps after it did not run."""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def tables_named(names: Sequence[str]) -> list[TableDefinition]:
    """The K2 table definitions with these names, in the order given."""
    known = {table.name: table for table in all_tables()}
    if unknown := [name for name in names if name not in known]:
        raise ValueError(f"no such K2 table: {', '.join(unknown)}")
    return [known[name] for name in dict.fromkeys(names)]


def procedure_table(table: TableDefinition, database: str) -> str:
    """The ``table =>`` argument: ``database.table``, both checked to be plain identifiers."""
    for name in (database, table.name):
        if not _PLAIN_NAME.fullmatch(name):
            raise ValueError(f"not a plain identifier: {name!r}")
    return table.identifier(database)


def _string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _map(options: Mapping[str, str]) -> str:
    return "map(" + ", ".join(f"{_string(k)}, {_string(v)}" for k, v in options.items()) + ")"


def _timestamp(moment: datetime) -> str:
    """A Spark TIMESTAMP literal that names its zone, so the session time zone cannot move it."""
    if moment.tzinfo is None:
        raise ValueError(f"a maintenance time must be timezone-aware: {moment}")
    return f"TIMESTAMP '{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S.%f}Z'"


def _call(
    spark: SparkSession, procedure: str, arguments: Mapping[str, str]
) -> list[dict[str, Any]]:
    named = ", ".join(f"{name} => {value}" for name, value in arguments.items())
    rows = spark.sql(f"CALL {CATALOG_NAME}.system.{procedure}({named})").collect()
    return [row.asDict() for row in rows]


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """The procedure's single output row; its count columns may be null (read as 0)."""
    (row,) = rows
    return {name: int(value or 0) for name, value in row.items()}


def rewrite_data_files_options(policy: MaintenancePolicy) -> dict[str, str]:
    options = {
        "target-file-size-bytes": str(policy.target_file_size_bytes),
        "min-input-files": str(policy.min_input_files),
        "partial-progress.enabled": "true",
        "partial-progress.max-commits": str(PARTIAL_PROGRESS_MAX_COMMITS),
        "use-starting-sequence-number": "true",
    }
    if policy.rewrite_deletes:
        options |= {
            "delete-file-threshold": str(DELETE_FILE_THRESHOLD),
            # After the rewrite, drop the delete files that (by sequence number) can no longer
            # apply to any live data file; rewrite_position_delete_files catches the rest.
            "remove-dangling-deletes": "true",
        }
    return options


def rewrite_data_files(
    spark: SparkSession, table: TableDefinition, database: str, policy: MaintenancePolicy
) -> dict[str, int]:
    """Compact small data files (and fold in deletes, for merge-on-read tables).

    Sorted tables are compacted with their sort order (``strategy => 'sort'``) so that reads by
    time range keep skipping row groups; the others are bin-packed.
    """
    return _counts(
        _call(
            spark,
            "rewrite_data_files",
            {
                "table": _string(procedure_table(table, database)),
                "strategy": _string("sort" if policy.sort else "binpack"),
                "options": _map(rewrite_data_files_options(policy)),
            },
        )
    )


# Position delete compaction rewrites every live delete file of the table, which is what drops
# the dangling ones (see rewrite_position_delete_files); cheap, because data compaction has just
# folded every delete it could into the data.
REWRITE_POSITION_DELETE_FILES_OPTIONS = {
    "rewrite-all": "true",
    "partial-progress.enabled": "true",
    "partial-progress.max-commits": str(PARTIAL_PROGRESS_MAX_COMMITS),
}


def rewrite_position_delete_files(
    spark: SparkSession, table: TableDefinition, database: str
) -> dict[str, int]:
    """Rewrite the table's position delete files, dropping deletes of files no longer live.

    Data compaction folds deletes into the files it rewrites, but the delete files themselves
    stay in the table's metadata whenever their sequence number is not below every live data
    file's (always so for the deletes of the snapshot the rewrite started from, because the
    compacted files keep that starting sequence number). Such "dangling" deletes apply to
    nothing yet every scan plans them. Rewriting the delete files filters out every entry whose
    data file is gone, and compacts whatever deletes remain (against files compaction could
    not rewrite) into fewer files of ``write.delete.target-file-size-bytes``.
    """
    return _counts(
        _call(
            spark,
            "rewrite_position_delete_files",
            {
                "table": _string(procedure_table(table, database)),
                "options": _map(REWRITE_POSITION_DELETE_FILES_OPTIONS),
            },
        )
    )


def expire_snapshots(
    spark: SparkSession,
    table: TableDefinition,
    database: str,
    policy: MaintenancePolicy,
    now: datetime,
) -> dict[str, int]:
    """Expire snapshots older than ``snapshot_max_age``, keeping the newest
    ``retain_last_snapshots`` whatever their age, and delete the files only they referenced."""
    return _counts(
        _call(
            spark,
            "expire_snapshots",
            {
                "table": _string(procedure_table(table, database)),
                "older_than": _timestamp(now - policy.snapshot_max_age),
                "retain_last": str(policy.retain_last_snapshots),
            },
        )
    )


def orphan_cutoff(policy: MaintenancePolicy, now: datetime) -> datetime:
    """Files last modified before this may be removed as orphans.

    Measured back from the earlier of ``now`` and the wall clock: a ``now`` in the future (a
    test, a skewed caller) must not bring the cutoff closer to files being written right now.
    """
    return min(now, datetime.now(UTC)) - policy.orphan_older_than


def remove_orphan_files(
    spark: SparkSession,
    table: TableDefinition,
    database: str,
    policy: MaintenancePolicy,
    now: datetime,
) -> int:
    """Delete files under the table's location that no snapshot references and that are older
    than ``orphan_older_than``; returns how many.

    Never with a cutoff of "now". Every write puts its files in the table's location *before*
    committing them: a streaming micro-batch's files wait through its commit and its commit
    retries, a compaction's output through the whole rewrite, a MERGE's through its scan. Until
    the commit, nothing references them, so they look exactly like orphans; and the procedure
    reads the table's metadata once, so a commit that lands while it lists files is not seen
    either. Deleting such a file does not just lose data: the commit still succeeds and the
    table then references a file that is gone, so every read of it fails. File age is the only
    thing that tells an in-flight file from an orphan, hence a cutoff far older than any write
    can take (3 days by default, more than Glue's 48-hour default job timeout; Iceberg's
    procedure itself refuses less than 24 hours).

    Files are listed with the table's own FileIO (``prefix_listing``): S3 listing by prefix,
    with no Hadoop file system configuration involved.
    """
    rows = _call(
        spark,
        "remove_orphan_files",
        {
            "table": _string(procedure_table(table, database)),
            "older_than": _timestamp(orphan_cutoff(policy, now)),
            "prefix_listing": "true",
        },
    )
    return len(rows)


# A bar table's retention in days: the table property when an operator set one (``ALTER TABLE
# ... SET TBLPROPERTIES ('k2.retention-days' = '30')``; the definition does not name it, so
# ``k2 lake init`` leaves it alone), else the timeframe's default in k2.domain.ohlcv.
RETENTION_DAYS_PROPERTY = "k2.retention-days"
_BAR_TABLES = {ohlcv_table(timeframe).name: timeframe for timeframe in Timeframe}


def bar_retention_days(table: TableDefinition, live_properties: Mapping[str, str]) -> int | None:
    """How many days of bars ``table`` keeps, or None if it is not a bar table."""
    timeframe = _BAR_TABLES.get(table.name)
    if timeframe is None:
        return None
    value = live_properties.get(RETENTION_DAYS_PROPERTY)
    if value is None:
        return DEFAULT_RETENTION_DAYS[timeframe]
    try:
        days = int(value)
    except ValueError:
        raise ValueError(
            f"{table.name}: {RETENTION_DAYS_PROPERTY} is not a number: {value!r}"
        ) from None
    if days < 1:
        raise ValueError(f"{table.name}: {RETENTION_DAYS_PROPERTY} must be at least 1, not {days}")
    return days


def retention_cutoff(days: int, now: datetime) -> datetime:
    """Bars whose window starts before this are expired: ``days`` before ``now``, rounded down
    to a UTC midnight, so deletes take whole days (whole partitions of the 1m table)."""
    cutoff = now - timedelta(days=days)
    return cutoff.replace(hour=0, minute=0, second=0, microsecond=0)


def delete_expired_bars(
    spark: SparkSession, table: TableDefinition, database: str, now: datetime
) -> int | None:
    """Delete the bars older than the table's retention; returns how many (None: no bar table)."""
    name = table.spark_identifier(database)
    live = {row["key"]: row["value"] for row in spark.sql(f"SHOW TBLPROPERTIES {name}").collect()}
    days = bar_retention_days(table, live)
    if days is None:
        return None
    expired = {"cutoff": retention_cutoff(days, now)}
    condition = "window_start < :cutoff"
    count = spark.sql(f"SELECT count(*) FROM {name} WHERE {condition}", args=expired).first()  # noqa: S608
    if not count or not count[0]:
        return 0  # no empty delete snapshot
    spark.sql(f"DELETE FROM {name} WHERE {condition}", args=expired)  # noqa: S608
    return int(count[0])


def _table_exists(spark: SparkSession, table: TableDefinition, database: str) -> bool:
    return bool(spark.catalog.tableExists(table.spark_identifier(database)))


def _failure(step: str, error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"{step}: {type(error).__name__}: {lines[0] if lines else ''}"


def maintain_table(
    spark: SparkSession, table: TableDefinition, database: str, now: datetime
) -> MaintenanceResult:
    """All the table's maintenance, in order: bar retention, compaction (data, then deletes),
    expiry, orphans.

    Retention first, so compaction folds its deletes in; compaction before expiry, so the files
    it replaces become unreferenced; expiry deletes them once the snapshots that still reference
    them are old enough to go.
    """
    name = table.spark_identifier(database)
    policy = policy_for(table)
    if not _table_exists(spark, table, database):
        return MaintenanceResult(table=name, skipped="table does not exist")
    results: dict[str, Any] = {}
    step = "delete_expired_bars"
    try:
        results["expired_bars_deleted"] = delete_expired_bars(spark, table, database, now)
        step = "rewrite_data_files"
        results["rewrite_data_files"] = rewrite_data_files(spark, table, database, policy)
        if policy.rewrite_deletes:
            step = "rewrite_position_delete_files"
            results[step] = rewrite_position_delete_files(spark, table, database)
        step = "expire_snapshots"
        results[step] = expire_snapshots(spark, table, database, policy, now)
        step = "remove_orphan_files"
        results["orphan_files_removed"] = remove_orphan_files(spark, table, database, policy, now)
    except Exception as error:  # one table's failure must not stop the others' maintenance
        return MaintenanceResult(table=name, error=_failure(step, error), **results)
    return MaintenanceResult(table=name, **results)


def run_maintenance(
    spark: SparkSession,
    settings: K2Settings,
    tables: Sequence[TableDefinition] | None = None,
    now: datetime | None = None,
) -> list[MaintenanceResult]:
    """Maintain ``tables`` (default: every K2 table) one after another.

    ``now`` (timezone-aware; default the wall clock, read once) is what retention is measured
    back from. A table that does not exist is skipped; a table whose maintenance fails is
    reported with the error, and the others are still maintained.
    """
    moment = datetime.now(UTC) if now is None else now
    if moment.tzinfo is None:
        raise ValueError(f"now must be timezone-aware: {moment}")
    return [
        maintain_table(spark, table, settings.glue_database, moment)
        for table in (all_tables() if tables is None else tables)
    ]
