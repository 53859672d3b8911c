"""Table maintenance on real Iceberg tables in the local Glue catalog, with real Spark.

Compaction leaves fewer files and the same rows; expiry follows the table's policy; orphan removal
spares files that may belong to a write in flight; compaction running while a writer appends
loses nothing and duplicates nothing; merge-on-read deletes survive compaction as the same
logical rows. Each test makes tables of its own (``maint_<random>``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest
from pyiceberg.transforms import DayTransform, IdentityTransform
from pyiceberg.types import DecimalType, LongType, StringType, TimestamptzType

from k2.aws import aws_client
from k2.domain.ohlcv import Timeframe
from k2.jobs.maintenance import (
    RETENTION_DAYS_PROPERTY,
    MaintenanceResult,
    bar_retention_days,
    maintain_table,
    orphan_cutoff,
    rewrite_data_files,
    rewrite_position_delete_files,
    run_maintenance,
)
from k2.lake.catalog import glue_catalog
from k2.lake.maintenance_policy import APPEND_STREAM_POLICY, policy_for
from k2.lake.table_definition import (
    MERGE_ON_READ_PROPERTIES,
    Column,
    Partition,
    TableDefinition,
)
from k2.lake.tables import gold_trades_table, ohlcv_table
from k2.settings import K2Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration

DAY_ONE = datetime(2026, 3, 2, tzinfo=UTC)
COLUMNS = (
    Column("id", LongType(), True, "row id, unique"),
    Column("symbol", StringType(), True, "symbol"),
    Column("ts", TimestamptzType(), True, "event time"),
    Column("price", DecimalType(38, 18), True, "price"),
)
SPARK_SCHEMA = "id BIGINT, symbol STRING, ts TIMESTAMP, price DECIMAL(38,18)"
Row = tuple[int, str, datetime, Decimal]


def _definition(
    properties: dict[str, str] | None = None, partition: Partition | None = None
) -> TableDefinition:
    return TableDefinition(
        name=f"maint_{uuid4().hex[:8]}",
        columns=COLUMNS,
        partitions=(partition or Partition("ts", DayTransform()),),
        properties=properties or {},
    )


def _create(spark: SparkSession, table: TableDefinition, database: str) -> str:
    for statement in table.spark_statements(database):
        spark.sql(statement)
    return table.spark_identifier(database)


def _row(row_id: int, version: int = 0) -> Row:
    """Row ``row_id``: on one of two days and one of two symbols, priced by ``version``."""
    return (
        row_id,
        "BTCUSD" if row_id % 2 else "ETHUSD",
        DAY_ONE + timedelta(days=row_id % 2, seconds=row_id),
        Decimal(f"{row_id}.{version:018d}"),
    )


def _append(spark: SparkSession, identifier: str, ids: Iterable[int]) -> None:
    spark.createDataFrame([_row(i) for i in ids], SPARK_SCHEMA).writeTo(identifier).append()


def _rows(spark: SparkSession, identifier: str) -> list[Row]:
    return [
        (r["id"], r["symbol"], r["ts"].astimezone(UTC), r["price"])
        for r in spark.table(identifier).orderBy("id").collect()
    ]


def _data_files(spark: SparkSession, identifier: str) -> int:
    return spark.table(f"{identifier}.data_files").count()


def _delete_files(spark: SparkSession, identifier: str) -> int:
    return spark.table(f"{identifier}.delete_files").count()


def _snapshot_operations(spark: SparkSession, identifier: str) -> list[str]:
    snapshots = spark.table(f"{identifier}.snapshots").orderBy("committed_at")
    return [r["operation"] for r in snapshots.select("operation").collect()]


def _maintain(
    spark: SparkSession, settings: K2Settings, table: TableDefinition
) -> MaintenanceResult:
    (result,) = run_maintenance(spark, settings, [table])
    assert result.error is None
    assert result.skipped is None
    return result


def test_compaction_leaves_fewer_files_the_same_rows_and_expiry_follows_the_policy(
    spark: SparkSession, k2_settings: K2Settings
) -> None:
    # Young snapshots (under an hour) are kept; once expired, only the newest one stays.
    table = _definition(
        {
            "history.expire.max-snapshot-age-ms": str(3600 * 1000),
            "history.expire.min-snapshots-to-keep": "1",
        }
    )
    identifier = _create(spark, table, k2_settings.glue_database)
    for batch in range(8):  # 8 appends x 2 day partitions: 16 small files
        _append(spark, identifier, range(batch * 10, batch * 10 + 10))
    rows = _rows(spark, identifier)
    assert len(rows) == 80
    assert _data_files(spark, identifier) == 16

    first = _maintain(spark, k2_settings, table)

    assert first.rewrite_data_files["rewritten_data_files_count"] == 16
    assert first.rewrite_data_files["added_data_files_count"] == 2
    assert first.rewrite_data_files["failed_data_files_count"] == 0
    assert first.rewrite_position_delete_files is None  # append-only: no deletes to rewrite
    assert _data_files(spark, identifier) == 2
    assert _rows(spark, identifier) == rows
    # Every snapshot is younger than the policy's hour: none expired, no file deleted.
    operations = _snapshot_operations(spark, identifier)
    assert operations[:8] == ["append"] * 8
    assert set(operations[8:]) == {"replace"}
    assert set(first.expire_snapshots.values()) == {0}
    assert first.orphan_files_removed == 0

    # The same table under a policy whose age limit every snapshot exceeds.
    expiring = replace(
        table,
        properties={**table.properties, "history.expire.max-snapshot-age-ms": "1"},
    )
    second = _maintain(spark, k2_settings, expiring)

    assert second.rewrite_data_files["rewritten_data_files_count"] == 0  # already compact
    assert _snapshot_operations(spark, identifier) == ["replace"]  # retain_last = 1
    # The 16 small files were referenced only by the expired snapshots: now deleted.
    assert second.expire_snapshots["deleted_data_files_count"] == 16
    assert second.expire_snapshots["deleted_manifest_lists_count"] == len(operations) - 1
    assert _rows(spark, identifier) == rows


def test_orphan_removal_spares_young_files_whatever_now_it_is_given(
    spark: SparkSession, k2_settings: K2Settings
) -> None:
    table = _definition()
    identifier = _create(spark, table, k2_settings.glue_database)
    _append(spark, identifier, range(10))
    rows = _rows(spark, identifier)
    # A file no snapshot references, as a write that has not committed yet leaves one.
    location = glue_catalog(k2_settings).load_table(table.identifier(k2_settings.glue_database))
    bucket, _, prefix = location.location().removeprefix("s3://").partition("/")
    in_flight = f"{prefix}/data/ts_day=2026-03-02/00000-in-flight.parquet"
    s3 = aws_client("s3", k2_settings)
    s3.put_object(Bucket=bucket, Key=in_flight, Body=b"not yet committed")

    # A clock 30 days ahead would put the cutoff past the file; the wall clock bounds it.
    (result,) = run_maintenance(
        spark, k2_settings, [table], now=datetime.now(UTC) + timedelta(days=30)
    )

    assert result.error is None
    assert result.orphan_files_removed == 0
    assert s3.head_object(Bucket=bucket, Key=in_flight)["ContentLength"] > 0
    assert _rows(spark, identifier) == rows


def test_orphan_cutoff_is_measured_back_from_the_earlier_of_now_and_the_wall_clock() -> None:
    policy = APPEND_STREAM_POLICY
    past = datetime(2026, 1, 1, tzinfo=UTC)
    assert orphan_cutoff(policy, past) == past - timedelta(days=3)
    future = orphan_cutoff(policy, datetime.now(UTC) + timedelta(days=30))
    assert future <= datetime.now(UTC) - timedelta(days=3)


def test_maintenance_running_while_a_stream_commits_loses_no_rows(
    spark: SparkSession, k2_settings: K2Settings
) -> None:
    table = _definition({"k2.maintenance.min-input-files": "2"})
    identifier = _create(spark, table, k2_settings.glue_database)
    rows_per_append, min_appends, max_appends = 20, 10, 40
    appended: list[int] = []
    results: list[MaintenanceResult] = []
    errors: list[BaseException] = []
    writer_done = threading.Event()

    def compactions_while_writing() -> int:
        return sum(1 for r in results if r.rewrite_data_files.get("rewritten_data_files_count"))

    def writer() -> None:
        # Appends until compaction has committed at least twice in between (bounded): each
        # append is a commit racing the compactor's; a lost race is retried by Iceberg.
        try:
            for batch in range(max_appends):
                ids = range(batch * rows_per_append, (batch + 1) * rows_per_append)
                _append(spark, identifier, ids)
                appended.extend(ids)
                if batch + 1 >= min_appends and compactions_while_writing() >= 2:
                    break
        except BaseException as error:
            errors.append(error)
        finally:
            writer_done.set()

    def compactor() -> None:
        try:
            while not writer_done.is_set():
                results.extend(run_maintenance(spark, k2_settings, [table]))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer), threading.Thread(target=compactor)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads)

    assert errors == []
    assert [r.error for r in results if r.error] == []
    assert compactions_while_writing() >= 2
    ids = [r["id"] for r in spark.table(identifier).select("id").collect()]
    assert len(ids) == len(appended)  # no duplicates
    assert sorted(ids) == sorted(appended)  # no loss
    assert _rows(spark, identifier) == sorted(_row(i) for i in appended)
    final = _maintain(spark, k2_settings, table)
    assert _data_files(spark, identifier) == 2  # one per day once the writer stopped
    assert final.rewrite_data_files["failed_data_files_count"] == 0
    assert sorted(r["id"] for r in spark.table(identifier).select("id").collect()) == appended


def _merge(
    spark: SparkSession,
    identifier: str,
    expected: dict[int, Row],
    deletes: Iterable[int] = (),
    updates: Iterable[int] = (),
    inserts: Iterable[int] = (),
    version: int = 1,
) -> None:
    """One MERGE that deletes, updates and inserts rows, applied to ``expected`` as well."""
    source: list[tuple[Any, ...]] = [(*_row(i), "delete") for i in deletes]
    source += [(*_row(i, version), "upsert") for i in (*updates, *inserts)]
    view = f"merge_source_{uuid4().hex[:8]}"
    spark.createDataFrame(source, f"{SPARK_SCHEMA}, op STRING").createOrReplaceTempView(view)
    spark.sql(
        f"MERGE INTO {identifier} t USING {view} s ON t.id = s.id "
        "WHEN MATCHED AND s.op = 'delete' THEN DELETE "
        "WHEN MATCHED THEN UPDATE SET t.price = s.price "
        "WHEN NOT MATCHED AND s.op = 'upsert' THEN INSERT (id, symbol, ts, price) "
        "VALUES (s.id, s.symbol, s.ts, s.price)"
    )
    spark.catalog.dropTempView(view)
    for i in deletes:
        expected.pop(i, None)
    for i in (*updates, *inserts):
        expected[i] = _row(i, version)


def _merge_on_read_table() -> TableDefinition:
    return replace(
        _definition(partition=Partition("symbol", IdentityTransform())),
        properties=dict(MERGE_ON_READ_PROPERTIES),
        identifier_fields=("id",),
    )


def test_merge_on_read_deletes_are_folded_in_leaving_the_same_logical_rows(
    spark: SparkSession, k2_settings: K2Settings
) -> None:
    table = _merge_on_read_table()
    assert policy_for(table).rewrite_deletes
    identifier = _create(spark, table, k2_settings.glue_database)
    expected: dict[int, Row] = {}
    for batch in range(4):
        ids = range(batch * 10, batch * 10 + 10)
        _append(spark, identifier, ids)
        expected |= {i: _row(i) for i in ids}
    _merge(spark, identifier, expected, deletes=[1, 2, 13, 24], updates=[3, 14], inserts=[100])
    _merge(spark, identifier, expected, deletes=[5, 36], updates=[3, 37], version=2)
    assert _rows(spark, identifier) == sorted(expected.values())
    assert _delete_files(spark, identifier) > 0  # merge-on-read: the MERGEs wrote deletes

    result = _maintain(spark, k2_settings, table)

    assert _rows(spark, identifier) == sorted(expected.values())
    assert result.rewrite_data_files["rewritten_data_files_count"] > 0
    assert result.rewrite_data_files["removed_delete_files_count"] > 0
    assert result.rewrite_position_delete_files is not None
    # Deletes of the snapshot the rewrite started from outlive it in metadata ("dangling": the
    # compacted files keep that snapshot's sequence number); the delete rewrite drops them.
    assert result.rewrite_position_delete_files["added_delete_files_count"] == 0
    assert _delete_files(spark, identifier) == 0  # every delete folded into the data
    assert _data_files(spark, identifier) == 2  # one per symbol


def test_rewrite_position_delete_files_drops_the_deletes_data_compaction_leaves_dangling(
    spark: SparkSession, k2_settings: K2Settings
) -> None:
    table = _merge_on_read_table()
    database = k2_settings.glue_database
    identifier = _create(spark, table, database)
    expected: dict[int, Row] = {}
    for batch in range(4):  # 4 appends x 2 symbol partitions: 8 data files
        ids = range(batch * 10, batch * 10 + 10)
        _append(spark, identifier, ids)
        expected |= {i: _row(i) for i in ids}
    # One MERGE deleting a row of every data file: one (file-scoped) delete file per data file.
    _merge(spark, identifier, expected, deletes=[b * 10 + s for b in range(4) for s in (0, 1)])
    assert _delete_files(spark, identifier) == 8

    compacted = rewrite_data_files(spark, table, database, policy_for(table))

    # The deletes are folded into the 2 new files, but the MERGE was the snapshot compaction
    # started from, so its delete files stay in the metadata, pointing at files now gone.
    assert compacted["rewritten_data_files_count"] == 8
    assert _data_files(spark, identifier) == 2
    assert _delete_files(spark, identifier) == 8
    assert _rows(spark, identifier) == sorted(expected.values())

    result = rewrite_position_delete_files(spark, table, database)

    assert result["rewritten_delete_files_count"] == 8
    assert result["added_delete_files_count"] == 0
    assert _delete_files(spark, identifier) == 0
    assert _rows(spark, identifier) == sorted(expected.values())


def test_the_glue_entry_point_maintains_the_named_k2_tables_and_prints_json(
    spark: SparkSession,
    k2_settings: K2Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from glue_jobs import maintenance as entry_point

    # A database of its own holding the real gold trades table, so no other test's tables are
    # touched; gold is the table with every option: merge-on-read, sorted compaction.
    database = f"maint_{uuid4().hex[:8]}"
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS glue_catalog.{database}")
    gold = gold_trades_table()
    identifier = _create(spark, gold, database)
    for trade_id in (5, 3, 1, 4, 2):  # 5 appends to one partition, out of order
        spark.sql(
            f"SELECT 'm{trade_id}' AS message_id, 'binance' AS exchange, 'BTCUSDT' AS symbol, "
            "'BTCUSDT' AS exchange_symbol, 'BTC' AS base_asset, 'USDT' AS quote_asset, "
            f"CAST({trade_id} AS BIGINT) AS trade_id, "
            f"TIMESTAMP '2026-03-02 00:00:0{trade_id}Z' AS timestamp, "
            "CAST('65000.5' AS DECIMAL(38,18)) AS price, "
            "CAST('0.001' AS DECIMAL(38,18)) AS quantity, 'BUY' AS side, "
            "current_timestamp() AS ingestion_timestamp, current_timestamp() AS gold_updated_at"
        ).writeTo(identifier).append()
    monkeypatch.setenv("K2_GLUE_DATABASE", database)

    entry_point.main(
        [
            *("--table", "gold_crypto_trades"),
            *("--table", "silver_dlq,gold_crypto_trades"),
            *("--JOB_NAME", "k2-maintenance"),
        ]
    )

    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["table"] for r in printed] == [identifier, f"glue_catalog.{database}.silver_dlq"]
    maintained, missing = printed
    assert maintained["error"] is None
    assert maintained["rewrite_data_files"]["rewritten_data_files_count"] == 5
    assert maintained["rewrite_data_files"]["added_data_files_count"] == 1
    assert maintained["rewrite_position_delete_files"] is not None
    assert missing["skipped"] == "table does not exist"
    # Compacted with the table's sort order: the one file holds the trades in trade_id order.
    trade_ids = [r["trade_id"] for r in spark.table(identifier).collect()]
    assert trade_ids == [1, 2, 3, 4, 5]


def test_the_glue_entry_point_refuses_unknown_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    from glue_jobs import maintenance as entry_point

    with pytest.raises(SystemExit) as exited:
        entry_point.main(["--table", "no_such_table", "--JOB_NAME", "t"])
    assert exited.value.code == 2


# --- bar retention -----------------------------------------------------------------------------


def test_bar_retention_is_the_timeframes_default_unless_the_table_says_otherwise() -> None:
    daily, minute = ohlcv_table(Timeframe.ONE_DAY), ohlcv_table(Timeframe.ONE_MINUTE)
    assert bar_retention_days(minute, {}) == 90
    assert bar_retention_days(daily, {}) == 5 * 365
    assert bar_retention_days(minute, {RETENTION_DAYS_PROPERTY: "7"}) == 7
    assert bar_retention_days(gold_trades_table(), {RETENTION_DAYS_PROPERTY: "7"}) is None
    for bad in ("0", "soon"):
        with pytest.raises(ValueError, match=RETENTION_DAYS_PROPERTY):
            bar_retention_days(minute, {RETENTION_DAYS_PROPERTY: bad})


def test_bar_retention_deletes_whole_days_older_than_the_retention_and_nothing_younger(
    spark: SparkSession,
) -> None:
    database = f"bars_{uuid4().hex[:8]}"
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS glue_catalog.{database}")
    table = ohlcv_table(Timeframe.ONE_MINUTE)
    identifier = _create(spark, table, database)
    now = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)
    # 90 days back from now is 2026-08-28 15:30, so every bar before 2026-08-28 00:00 goes; the
    # bars of 2026-08-28 itself stay (whole days), as does everything younger.
    starts = [
        datetime(2026, 8, 27, 23, 59, tzinfo=UTC),
        datetime(2026, 8, 27, 0, 0, tzinfo=UTC),
        datetime(2026, 8, 28, 0, 0, tzinfo=UTC),
        datetime(2026, 8, 28, 15, 0, tzinfo=UTC),
        datetime(2026, 11, 26, 15, 29, tzinfo=UTC),
    ]
    for start in starts:
        spark.sql(
            f"INSERT INTO {identifier} SELECT 'binance', 'BTCUSDT', :start, "
            ":start + INTERVAL 1 MINUTE, 1, 1, 1, 1, 1, 1, 1, 1, 7, :start, 7, :start, "
            "current_timestamp(), current_timestamp()",
            args={"start": start},
        )
    result = maintain_table(spark, table, database, now)
    assert result.error is None, result.error
    assert result.expired_bars_deleted == 2
    kept = spark.sql(f"SELECT window_start FROM {identifier}").collect()
    assert sorted(row[0].astimezone(UTC) for row in kept) == starts[2:]

    spark.sql(f"ALTER TABLE {identifier} SET TBLPROPERTIES ('{RETENTION_DAYS_PROPERTY}' = '1')")
    assert maintain_table(spark, table, database, now).expired_bars_deleted == 2
    kept = spark.sql(f"SELECT window_start FROM {identifier}").collect()
    assert [row[0].astimezone(UTC) for row in kept] == starts[4:]
    assert maintain_table(spark, gold_trades_table(), database, now).expired_bars_deleted is None
