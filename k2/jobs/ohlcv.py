"""The OHLCV job: bars of every timeframe, recomputed for exactly the windows gold changed.

Each run:

1. pins gold's current snapshot and finds the 1m windows touched by the gold rows appended since
   the snapshot the last run finished (kept in the 1m table's properties);
2. recomputes those 1m windows *completely* from gold and MERGEs them in, replacing a window
   only when something in it differs -- never adding to a stored bar, which is how the system we
   rebuilt double-counted volume;
3. rolls each coarser timeframe up from the next finer one (5m from 1m, 30m from 5m, 1h from
   30m, 1d from 1h) for the windows holding the touched ones, and MERGEs those the same way;
4. records the pinned snapshot in the 1m table's properties, last.

So a late trade corrects its windows on the next run, a run with nothing new writes nothing,
and a run killed half-way is redone by the next (which rewrites nothing that is already
right). ``backfill`` recomputes a time range,
widened to whole days so every coarser window is rebuilt from complete finer bars.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from k2.domain.ohlcv import DAY_MICROS, ROLLED_UP_FROM, Timeframe, window_start
from k2.jobs.job_metrics import Job
from k2.jobs.job_metrics_listener import reporting_merge
from k2.jobs.ohlcv_bars import BAR_COLUMNS, BAR_KEY, bars_from_trades, rolled_up, window_start_of
from k2.lake.table_definition import TableDefinition
from k2.lake.tables import OHLCV_CREATED_AT, OHLCV_UPDATED_AT, gold_trades_table, ohlcv_table
from k2.settings import K2Settings

log = logging.getLogger(__name__)

# Set on the 1m bar table once every bar table holds every window of gold up to this snapshot.
GOLD_SNAPSHOT_PROPERTY = "k2.ohlcv.gold-snapshot-id"
GOLD_COMMITTED_AT_PROPERTY = "k2.ohlcv.gold-committed-at-ms"

# When the processed snapshot has left gold's history (expired) or gold was changed by anything
# other than appends, the touched windows are found from gold_updated_at instead, looking back
# this much further than the processed commit (a gold batch stamps its rows before it commits).
UPDATED_AT_SLACK = timedelta(days=1)

TRADE_COLUMNS = ["exchange", "symbol", "trade_id", "timestamp", "price", "quantity"]
_COMPARED = [column for column in BAR_COLUMNS if column not in BAR_KEY]


@dataclass(frozen=True)
class TimeRange:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("a backfill range needs timezone-aware times")
        if self.end <= self.start:
            raise ValueError(f"empty backfill range: {self.start} .. {self.end}")

    def whole_days(self) -> TimeRange:
        """The range widened to UTC day boundaries, the coarsest window."""
        day = timedelta(microseconds=DAY_MICROS)
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        start = epoch + ((self.start - epoch) // day) * day
        end = epoch + -((epoch - self.end) // day) * day
        return TimeRange(start, end)


@dataclass(frozen=True)
class GoldSnapshot:
    snapshot_id: int
    committed_at_ms: int


@dataclass(frozen=True)
class OhlcvRunResult:
    mode: str  # up-to-date | incremental | since-updated-at | full | backfill
    gold_snapshot_id: int | None
    minutes: int = 0  # 1m windows recomputed (and the coarser windows holding them)


# SQL text here only ever holds identifiers from the table definitions (the S608 exemptions).


def _identifier(table: TableDefinition, settings: K2Settings) -> str:
    return table.spark_identifier(settings.glue_database)


def current_gold_snapshot(spark: SparkSession, gold: str) -> GoldSnapshot | None:
    rows = spark.sql(
        f"SELECT s.snapshot_id, unix_millis(s.committed_at) AS committed_at_ms "  # noqa: S608
        f"FROM {gold}.history h JOIN {gold}.snapshots s ON h.snapshot_id = s.snapshot_id "
        f"WHERE h.is_current_ancestor ORDER BY h.made_current_at DESC LIMIT 1"
    ).collect()
    return GoldSnapshot(rows[0]["snapshot_id"], rows[0]["committed_at_ms"]) if rows else None


def processed_snapshot(spark: SparkSession, table: str) -> GoldSnapshot | None:
    """The gold snapshot a bar table is complete up to, or None if it never ran."""
    properties = {
        row["key"]: row["value"] for row in spark.sql(f"SHOW TBLPROPERTIES {table}").collect()
    }
    if GOLD_SNAPSHOT_PROPERTY not in properties:
        return None
    return GoldSnapshot(
        int(properties[GOLD_SNAPSHOT_PROPERTY]), int(properties.get(GOLD_COMMITTED_AT_PROPERTY, 0))
    )


def _record_processed(spark: SparkSession, table: str, snapshot: GoldSnapshot) -> None:
    spark.sql(
        f"ALTER TABLE {table} SET TBLPROPERTIES ("
        f"'{GOLD_SNAPSHOT_PROPERTY}' = '{snapshot.snapshot_id}', "
        f"'{GOLD_COMMITTED_AT_PROPERTY}' = '{snapshot.committed_at_ms}')"
    )


def _appends_only_since(spark: SparkSession, gold: str, since: GoldSnapshot) -> bool:
    """Whether ``since`` is still in gold's history and every later commit appended or only
    rewrote files (compaction), so an incremental append read sees every new row."""
    history = spark.sql(
        f"SELECT h.snapshot_id, h.made_current_at, s.operation "  # noqa: S608
        f"FROM {gold}.history h JOIN {gold}.snapshots s ON h.snapshot_id = s.snapshot_id "
        f"WHERE h.is_current_ancestor"
    ).collect()
    made = {row["snapshot_id"]: row["made_current_at"] for row in history}
    if since.snapshot_id not in made:
        return False
    later = [row for row in history if row["made_current_at"] > made[since.snapshot_id]]
    return all(row["operation"] in ("append", "replace") for row in later)


def _touched_minutes(trades: DataFrame) -> DataFrame:
    return trades.select(
        "exchange",
        "symbol",
        window_start_of(F.col("timestamp"), Timeframe.ONE_MINUTE).alias("window_start"),
    ).distinct()


def _merge_bars(bars: DataFrame, target: str, view: str) -> None:
    """Replace each window whose bar differs, insert new ones; identical bars are left alone,
    so recomputing an unchanged window writes nothing."""
    stamped = bars.withColumn(OHLCV_UPDATED_AT.name, F.current_timestamp())
    stamped.createOrReplaceTempView(view)
    on = " AND ".join(f"t.`{key}` = s.`{key}`" for key in BAR_KEY)
    differs = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in _COMPARED)
    updates = ", ".join(f"t.`{c}` = s.`{c}`" for c in (*_COMPARED, OHLCV_UPDATED_AT.name))
    columns = [*BAR_KEY, *_COMPARED]
    insert_columns = ", ".join(
        f"`{c}`" for c in (*columns, OHLCV_CREATED_AT.name, OHLCV_UPDATED_AT.name)
    )
    insert_values = ", ".join(
        f"s.`{c}`" for c in (*columns, OHLCV_UPDATED_AT.name, OHLCV_UPDATED_AT.name)
    )
    bars.sparkSession.sql(
        f"MERGE INTO {target} t USING {view} s ON {on} "  # noqa: S608
        f"WHEN MATCHED AND ({differs}) THEN UPDATE SET {updates} "
        f"WHEN NOT MATCHED THEN INSERT ({insert_columns}) VALUES ({insert_values})"
    )


@dataclass(frozen=True)
class _Touched:
    """The touched 1m windows (cached) and the span they cover, in µs."""

    windows: DataFrame
    count: int
    first_us: int
    last_us: int

    def bounds(self, timeframe: Timeframe) -> tuple[Column, Column]:
        """[start, end) of the windows of ``timeframe`` holding the touched minutes."""
        start = window_start(self.first_us, timeframe)
        end = window_start(self.last_us, timeframe) + timeframe.micros
        return F.timestamp_micros(F.lit(start)), F.timestamp_micros(F.lit(end))


def _in_windows(
    rows: DataFrame, time_column: str, touched: _Touched, timeframe: Timeframe
) -> DataFrame:
    """The rows (trades or finer bars) in the windows of ``timeframe`` holding touched minutes.
    The time-range filter comes first so Iceberg prunes partitions and files before the join."""
    start, end = touched.bounds(timeframe)
    keyed = rows.where((F.col(time_column) >= start) & (F.col(time_column) < end))
    keyed = keyed.withColumn("_window", window_start_of(F.col(time_column), timeframe))
    windows = touched.windows.select(
        "exchange", "symbol", window_start_of(F.col("window_start"), timeframe).alias("_window")
    ).distinct()
    return keyed.join(windows, ["exchange", "symbol", "_window"], "left_semi").drop("_window")


def rebuild_windows(
    spark: SparkSession, settings: K2Settings, gold_trades: DataFrame, changed: DataFrame
) -> int:
    """Recompute and MERGE the bars of every timeframe around the 1m windows ``changed``
    (gold rows) falls in; returns how many 1m windows that was."""
    windows = _touched_minutes(changed).cache()
    try:
        micros = F.unix_micros("window_start")
        span = windows.agg(F.count(F.lit(1)), F.min(micros), F.max(micros)).collect()[0]
        count = int(span[0])
        if not count:
            return 0
        touched = _Touched(windows, count, int(span[1]), int(span[2]))
        minute = Timeframe.ONE_MINUTE
        trades = _in_windows(gold_trades.select(*TRADE_COLUMNS), "timestamp", touched, minute)
        _merge_timeframe(settings, bars_from_trades(trades, minute), minute)
        for timeframe, finer in ROLLED_UP_FROM.items():
            finer_bars = spark.table(_identifier(ohlcv_table(finer), settings))
            coarse = rolled_up(
                _in_windows(finer_bars, "window_start", touched, timeframe), timeframe
            )
            _merge_timeframe(settings, coarse, timeframe)
        return count
    finally:
        windows.unpersist()


def _merge_timeframe(settings: K2Settings, bars: DataFrame, timeframe: Timeframe) -> None:
    began = time.monotonic()
    table = ohlcv_table(timeframe)
    reporting_merge(
        bars.sparkSession,
        Job.OHLCV,
        table,
        settings.glue_database,
        lambda: _merge_bars(bars, _identifier(table, settings), f"ohlcv_source_{timeframe}"),
        timed=True,
    )
    log.info("ohlcv %s bars merged in %.1f s", timeframe, time.monotonic() - began)


def ensure_tables(spark: SparkSession, settings: K2Settings) -> None:
    for table in (gold_trades_table(), *(ohlcv_table(t) for t in Timeframe)):
        for statement in table.spark_statements(settings.glue_database):
            spark.sql(statement)


def run_ohlcv(
    spark: SparkSession, settings: K2Settings, backfill: TimeRange | None = None
) -> OhlcvRunResult:
    """One incremental run (or a backfill of ``backfill``); see the module docstring."""
    began = time.monotonic()
    ensure_tables(spark, settings)
    gold = _identifier(gold_trades_table(), settings)
    # The finest table records progress, and is told last: a run that dies half-way is redone.
    progress_table = _identifier(ohlcv_table(Timeframe.ONE_MINUTE), settings)
    pinned = current_gold_snapshot(spark, gold)
    if pinned is None:
        return OhlcvRunResult(mode="up-to-date", gold_snapshot_id=None)
    at_pin = spark.read.format("iceberg").option("snapshot-id", pinned.snapshot_id).load(gold)

    if backfill is not None:
        days = backfill.whole_days()
        mode = "backfill"
        changed = at_pin.where(
            (F.col("timestamp") >= F.lit(days.start)) & (F.col("timestamp") < F.lit(days.end))
        )
    else:
        done = processed_snapshot(spark, progress_table)
        if done is None:
            mode, changed = "full", at_pin
        elif done.snapshot_id == pinned.snapshot_id:
            return OhlcvRunResult(mode="up-to-date", gold_snapshot_id=pinned.snapshot_id)
        else:
            if _appends_only_since(spark, gold, done):
                mode = "incremental"
                changed = (
                    spark.read.format("iceberg")
                    .option("start-snapshot-id", done.snapshot_id)
                    .option("end-snapshot-id", pinned.snapshot_id)
                    .load(gold)
                )
            else:
                mode = "since-updated-at"
                since = datetime.fromtimestamp(done.committed_at_ms / 1000, UTC) - UPDATED_AT_SLACK
                changed = at_pin.where(F.col("gold_updated_at") >= F.lit(since))
    minutes = rebuild_windows(spark, settings, at_pin, changed)
    if backfill is None:
        _record_processed(spark, progress_table, pinned)
    log.info(
        "ohlcv run: %s up to gold snapshot %s, %d 1m windows, in %.1f s",
        mode,
        pinned.snapshot_id,
        minutes,
        time.monotonic() - began,
    )
    return OhlcvRunResult(mode=mode, gold_snapshot_id=pinned.snapshot_id, minutes=minutes)
