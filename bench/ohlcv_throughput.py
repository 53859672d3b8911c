"""How long the OHLCV job takes to build every timeframe for N gold trades, and to catch up after M.

    .venv/bin/python -m bench.ohlcv_throughput [--trades 10000000] [--new-trades 100000]
        [--late-fraction 0.1]

Needs `k2 local up` (only the AWS endpoint is used: S3 and the Glue catalog; no Kafka, no feeds);
run both with the same `K2_LOCAL_*` variables to use a local cloud on other ports and another
state dir. Works in a Glue database of its own, `k2_bench_ohlcv`, whose gold and bar tables it
drops (PURGE) and recreates on every run, so reruns start clean.

Data, generated in Spark SQL from `spark.range` (deterministic: every value is a hash of the row
number): 4 markets (binance BTCUSDT and ETHUSDT, kraken BTCUSD and ETHUSD) take the rows in turn,
so each market's trade ids run 1, 2, 3...; timestamps are uniform over 7 UTC days, except that
every 7th trade of a market sits on a minute boundary and every 5th on a whole second, so many
trades share a timestamp and open/close depend on the trade-id tie break; prices have 8 decimal
places (BTC 20,000-70,000, ETH 1,000-5,000), quantities 0.00000001-10 with 8 places, both stored
decimal(38, 18); message_id is gold's (sha256 of exchange|symbol|trade_id). The N trades go into
gold in one `writeTo().append()` (untimed setup; so gold is compact, a few large files per day and
symbol, unlike a gold fed by a stream of small MERGEs before compaction). The M new trades
continue each market's trade ids; `--late-fraction` of them fall in the last hour of the 7 days
(windows the first run built; late trades), the rest in the hour after. They enter gold as the
gold job adds rows: an insert-if-absent MERGE on gold's merge keys (`insert_missing`), which
commits an append.

Timed, on a SparkSession the setup has warmed: (1) the first `run_ohlcv` (mode full: all five
timeframes, 1m from the trades, then each rolled up from the next finer one) and (2) the
`run_ohlcv` after the M new trades (mode incremental: the 1m windows they touch, recomputed from
all of gold, then the coarser windows holding them). The job's own per-timeframe MERGE times
are printed under each.

Baseline in the same run: DuckDB computing the same 1m bars exactly (prices and quantities cast
to decimal(38, 8) before multiplying, exact decimal sums, open/close by (timestamp, trade_id),
VWAP rounded half up at 18 places by integer arithmetic) from gold's Parquet data files, read
with pyiceberg/pyarrow from the same S3 endpoint into Arrow and handed to DuckDB (no extension is
loaded). The read and the SQL are timed separately. After (1), over the N trades; after (2), over
all N + M trades (what the job's result must equal) and over only the M new trades (the data
files the MERGE added: a lower bound, whose bars for the late windows are not the right bars).
After each run every 1m bar of the job is compared, column by column, with DuckDB's over the
whole table, and the result printed: a benchmark whose outputs differ measures nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFileContent, ManifestEntryStatus
from pyiceberg.table import FileScanTask, Table
from pyspark.sql import DataFrame, SparkSession

from k2.domain.ohlcv import DAY_MICROS, HOUR_MICROS, MINUTE_MICROS, Timeframe
from k2.jobs.gold import merge_keys
from k2.jobs.insert_missing import insert_missing
from k2.jobs.ohlcv import ensure_tables, run_ohlcv
from k2.jobs.spark_session import build_spark_session
from k2.lake.catalog import glue_catalog
from k2.lake.tables import gold_trades_table, ohlcv_table
from k2.local.cloud import LocalCloud
from k2.query.lake_reader import read_table
from k2.settings import K2Settings

DATABASE = "k2_bench_ohlcv"
DAY0 = 1_795_000_000_000_000 // DAY_MICROS * DAY_MICROS  # a UTC midnight in 2026
DAYS = 7
SPAN_US = DAYS * DAY_MICROS
TRADE_FIELDS = ("exchange", "symbol", "trade_id", "timestamp", "price", "quantity")


@dataclass(frozen=True)
class Market:
    exchange: str
    symbol: str
    exchange_symbol: str
    base: str
    quote: str
    low_price: int  # prices are uniform in [low_price, low_price + price_range)
    price_range: int


MARKETS = (
    Market("binance", "BTCUSDT", "BTCUSDT", "BTC", "USDT", 20_000, 50_000),
    Market("binance", "ETHUSDT", "ETHUSDT", "ETH", "USDT", 1_000, 4_000),
    Market("kraken", "BTCUSD", "BTC/USD", "BTC", "USD", 20_000, 50_000),
    Market("kraken", "ETHUSD", "ETH/USD", "ETH", "USD", 1_000, 4_000),
)


# --- the trades ------------------------------------------------------------------------------


def _by_market(values: list[str]) -> str:
    """A SQL CASE picking ``values[i]`` for market i (the row number modulo the market count)."""
    whens = " ".join(f"WHEN {index} THEN {value}" for index, value in enumerate(values))
    return f"CASE CAST(pmod(id, {len(MARKETS)}) AS INT) {whens} END"


def _hash(seed: int, modulus: int) -> str:
    """A deterministic pseudo-random integer in [0, modulus) from the row number."""
    return f"pmod(xxhash64(id, {seed}), {modulus})"


def trades_frame(
    spark: SparkSession, first: int, count: int, late_fraction: float | None
) -> DataFrame:
    """Gold rows (gold's columns, in order) for rows ``first .. first + count - 1``.

    ``late_fraction`` None: timestamps over the 7 days; else the new trades of the incremental
    step, that fraction in the last hour of the 7 days and the rest in the hour after.
    """
    if late_fraction is None:
        raw_us = f"{DAY0} + {_hash(1, SPAN_US)}"
    else:
        late = f"{_hash(3, 1_000_000)} < {round(late_fraction * 1_000_000)}"
        raw_us = (
            f"{DAY0 + SPAN_US} + {_hash(1, HOUR_MICROS)} "
            f"- CASE WHEN {late} THEN {HOUR_MICROS} ELSE 0 END"
        )
    sequence = f"id div {len(MARKETS)}"  # a market's trade number, from 0
    timestamp_us = (
        f"CASE WHEN {sequence} % 7 = 0 THEN raw_us - raw_us % {MINUTE_MICROS} "
        f"WHEN {sequence} % 5 = 0 THEN raw_us - raw_us % 1000000 ELSE raw_us END"
    )

    def eight_places(units: str) -> str:  # exact: an integer of at most 18 digits times 1e-8
        return f"CAST(CAST({units} AS DECIMAL(18, 0)) * 0.00000001BD AS DECIMAL(38, 18))"

    low = _by_market([str(m.low_price * 10**8) for m in MARKETS])
    span = _by_market([str(m.price_range * 10**8) for m in MARKETS])
    rows = (
        spark.range(first, first + count)
        .selectExpr(
            "id",
            f"{_by_market([repr(m.exchange) for m in MARKETS])} AS exchange",
            f"{_by_market([repr(m.symbol) for m in MARKETS])} AS symbol",
            f"{_by_market([repr(m.exchange_symbol) for m in MARKETS])} AS exchange_symbol",
            f"{_by_market([repr(m.base) for m in MARKETS])} AS base_asset",
            f"{_by_market([repr(m.quote) for m in MARKETS])} AS quote_asset",
            f"{sequence} + 1 AS trade_id",
            f"{raw_us} AS raw_us",
            f"{low} + pmod(xxhash64(id, 2), {span}) AS price_units",
        )
        .selectExpr("*", f"{timestamp_us} AS timestamp_us")
        .selectExpr(
            "sha2(concat_ws('|', exchange, symbol, CAST(trade_id AS STRING)), 256) AS message_id",
            "exchange",
            "symbol",
            "exchange_symbol",
            "base_asset",
            "quote_asset",
            "trade_id",
            "timestamp_micros(timestamp_us) AS timestamp",
            f"{eight_places('price_units')} AS price",
            f"{eight_places(_hash(4, 10**9) + ' + 1')} AS quantity",
            "CASE WHEN trade_id % 2 = 1 THEN 'BUY' ELSE 'SELL' END AS side",
            "timestamp_micros(timestamp_us + 50000) AS ingestion_timestamp",
            "current_timestamp() AS gold_updated_at",
        )
    )
    expected = [column.name for column in gold_trades_table().columns]
    assert rows.columns == expected, (rows.columns, expected)
    return rows


# --- the DuckDB baseline ---------------------------------------------------------------------

_E8, _E10, _E16 = 10**8, 10**10, 10**16


def _units(decimal: str, power: int) -> str:
    """An exact HUGEINT of ``decimal`` * 10**power (its unscaled value), without overflowing
    the decimal type: integer and fractional parts separately."""
    return (
        f"(trunc({decimal})::HUGEINT * {power} "
        f"+ (({decimal} - trunc({decimal})) * {power})::HUGEINT)"
    )


# Integer window arithmetic as the domain defines it; (timestamp, trade_id) structs order
# open/close; VWAP = notional / volume rounded half up at 18 places, as integers:
# (n·1e-16) / (v·1e-8) in units of 1e-18 is n·1e10 / v. HUGEINT overflow raises, never wraps.
BARS_SQL = f"""
WITH t AS (
    SELECT exchange, symbol, trade_id, epoch_us("timestamp") AS ts,
           price::DECIMAL(38, 8) AS p, quantity::DECIMAL(38, 8) AS q
    FROM trades
), bars AS (
    SELECT exchange, symbol, ts - ts % {MINUTE_MICROS} AS window_start,
           arg_min(p, (ts, trade_id)) AS open, max(p) AS high, min(p) AS low,
           arg_max(p, (ts, trade_id)) AS close,
           sum(q) AS volume, sum(p * q) AS notional, count(*) AS trade_count,
           arg_min(trade_id, (ts, trade_id)) AS first_trade_id, min(ts) AS first_trade_time,
           arg_max(trade_id, (ts, trade_id)) AS last_trade_id, max(ts) AS last_trade_time
    FROM t GROUP BY exchange, symbol, window_start
)
SELECT exchange, symbol, window_start, open, high, low, close, volume, notional,
       ((2 * {_units("notional", _E16)} * {_E10} + {_units("volume", _E8)})
        // (2 * {_units("volume", _E8)}))::DECIMAL(38, 0)
           * 0.000000000000000001::DECIMAL(18, 18) AS vwap,
       trade_count, first_trade_id, first_trade_time, last_trade_id, last_trade_time,
       window_start + {MINUTE_MICROS} AS window_end
FROM bars
"""  # noqa: S608 - only integer constants are interpolated


@dataclass(frozen=True)
class Baseline:
    label: str
    trades: int
    read_s: float
    sql_s: float
    bars: pa.Table

    @property
    def total_s(self) -> float:
        return self.read_s + self.sql_s


def duckdb_bars(label: str, read: Callable[[], pa.Table]) -> Baseline:
    """Time ``read()`` (→ Arrow trades), then the DuckDB SQL over them, fetched as Arrow."""
    started = time.perf_counter()
    trades: pa.Table = read()
    read_s = time.perf_counter() - started
    connection = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    connection.register("trades", trades)
    started = time.perf_counter()
    bars = connection.sql(BARS_SQL).to_arrow_table()
    sql_s = time.perf_counter() - started
    connection.close()
    return Baseline(label, trades.num_rows, read_s, sql_s, bars)


def read_gold(settings: K2Settings) -> pa.Table:
    gold = gold_trades_table().identifier(settings.glue_database)
    return read_table(glue_catalog(settings), gold, TRADE_FIELDS)


def read_added(table: Table, snapshot_id: int) -> pa.Table:
    """The data files ``snapshot_id`` added (an append: no delete files), read into Arrow."""
    snapshot = table.snapshot_by_id(snapshot_id)
    assert snapshot is not None
    tasks = [
        FileScanTask(entry.data_file)
        for manifest in snapshot.manifests(table.io)
        if manifest.added_snapshot_id == snapshot_id
        for entry in manifest.fetch_manifest_entry(table.io)
        if entry.status == ManifestEntryStatus.ADDED
        and entry.data_file.content == DataFileContent.DATA
    ]
    projected = table.schema().select(*TRADE_FIELDS)
    return ArrowScan(table.metadata, table.io, projected, AlwaysTrue()).to_table(tasks)


# --- the job's bars and the comparison -------------------------------------------------------

BarRows = dict[tuple[Any, ...], tuple[Any, ...]]


def job_bars(spark: SparkSession, settings: K2Settings) -> BarRows:
    table = ohlcv_table(Timeframe.ONE_MINUTE).spark_identifier(settings.glue_database)
    rows = spark.sql(
        f"SELECT exchange, symbol, unix_micros(window_start), open, high, low, close, volume, "  # noqa: S608
        f"notional, vwap, trade_count, first_trade_id, unix_micros(first_trade_time), "
        f"last_trade_id, unix_micros(last_trade_time), unix_micros(window_end) FROM {table}"
    ).collect()
    return {tuple(row[:3]): tuple(row[3:]) for row in rows}


def verify(spark: SparkSession, settings: K2Settings, baseline: Baseline) -> str:
    """Every 1m bar of the job against DuckDB's, every column (Decimals compare by value)."""
    job = job_bars(spark, settings)
    expected: BarRows = {}
    for row in baseline.bars.to_pylist():
        values = list(row.values())
        expected[tuple(values[:3])] = tuple(values[3:])
    differing = sorted(key for key in job.keys() & expected.keys() if job[key] != expected[key])
    missing, extra = expected.keys() - job.keys(), job.keys() - expected.keys()
    if not (differing or missing or extra):
        return (
            f"EQUAL: all {len(job):,} 1m bars of the job = DuckDB's {len(expected):,}, every column"
        )
    sample = differing[0] if differing else None
    detail = f"; e.g. {sample}: job {job[sample]} vs DuckDB {expected[sample]}" if sample else ""
    return (
        f"DIFFERENT: job {len(job):,} bars, DuckDB {len(expected):,}; {len(differing):,} differ, "
        f"{len(missing):,} missing from the job, {len(extra):,} only in the job{detail}"
    )


def bar_counts(spark: SparkSession, settings: K2Settings) -> str:
    database = settings.glue_database
    counts = (
        f"{timeframe} {spark.table(ohlcv_table(timeframe).spark_identifier(database)).count():,}"
        for timeframe in Timeframe
    )
    return "  ".join(counts)


# --- running and printing ---------------------------------------------------------------------


class _Collect(logging.Handler):
    """Keeps the OHLCV job's own log lines (per-timeframe MERGE times) to print under a run."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    def drain(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines


@contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_baseline(baseline: Baseline, job_s: float) -> None:
    print(
        f"  baseline DuckDB, {baseline.label} ({baseline.trades:,} trades → "
        f"{baseline.bars.num_rows:,} 1m bars): read {baseline.read_s:.2f} s + SQL "
        f"{baseline.sql_s:.2f} s = {baseline.total_s:.2f} s;  job/DuckDB "
        f"{job_s / baseline.total_s:.1f}x (vs the SQL alone {job_s / baseline.sql_s:.1f}x)",
        flush=True,
    )


def drop_and_create(spark: SparkSession, settings: K2Settings) -> None:
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS glue_catalog.{DATABASE}")
    for table in (gold_trades_table(), *(ohlcv_table(t) for t in Timeframe)):
        spark.sql(f"DROP TABLE IF EXISTS {table.spark_identifier(DATABASE)} PURGE")
    ensure_tables(spark, settings)


def gold_files(table: Table) -> int:
    snapshot = table.current_snapshot()
    summary = snapshot.summary if snapshot else None
    return int(summary.get("total-data-files") or 0) if summary else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--new-trades", type=int, default=100_000)
    parser.add_argument("--late-fraction", type=float, default=0.1)
    args = parser.parse_args()
    collected = _Collect()
    job_log = logging.getLogger("k2.jobs.ohlcv")
    job_log.setLevel(logging.INFO)
    job_log.addHandler(collected)

    print(f"trades N: {args.trades:,} (4 markets, {DAYS} days); new trades M: {args.new_trades:,}")
    print(f"load average at start: {load()}  ({os.cpu_count()} cores)", flush=True)
    cloud = LocalCloud()
    cloud.layout.export_client_environment()
    settings = cloud.layout.client_settings().model_copy(update={"glue_database": DATABASE})
    print("setup (untimed for the figures):")
    with timed("SparkSession"):
        spark = build_spark_session("bench-ohlcv", settings)
    with timed(f"drop and create the tables of {DATABASE}"):
        drop_and_create(spark, settings)
    gold = gold_trades_table().spark_identifier(DATABASE)
    started = time.perf_counter()
    trades_frame(spark, 0, args.trades, None).writeTo(gold).append()
    catalog = glue_catalog(settings)
    gold_table = catalog.load_table(gold_trades_table().identifier(DATABASE))
    print(
        f"  {args.trades:,} trades appended to gold: {time.perf_counter() - started:.1f} s "
        f"({gold_files(gold_table)} data files)",
        flush=True,
    )

    print(f"\n1. full build, all five timeframes (load average {load()})")
    started = time.perf_counter()
    result = run_ohlcv(spark, settings)
    full_s = time.perf_counter() - started
    assert result.mode == "full", result
    print(f"  run_ohlcv, mode {result.mode}, {result.minutes:,} 1m windows: {full_s:.1f} s")
    for line in collected.drain():
        print(f"    job log: {line}")
    full = duckdb_bars("all N trades", lambda: read_gold(settings))
    print_baseline(full, full_s)
    print(f"  verification: {verify(spark, settings, full)}")
    print(f"  bars: {bar_counts(spark, settings)}", flush=True)

    print(f"\n2. incremental, after {args.new_trades:,} new trades (load average {load()})")
    new = trades_frame(spark, args.trades, args.new_trades, args.late_fraction)
    late = new.where(f"timestamp < timestamp_micros({DAY0 + SPAN_US})").count()
    started = time.perf_counter()
    insert_missing(new, gold, merge_keys(gold_trades_table()), view="bench_ohlcv_new_trades")
    merge_s = time.perf_counter() - started
    gold_table = catalog.load_table(gold_trades_table().identifier(DATABASE))
    snapshot = gold_table.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    print(
        f"  setup: {args.new_trades:,} trades ({late:,} late: in windows already built) MERGEd "
        f"into gold with insert_missing: {merge_s:.1f} s; snapshot operation "
        f"{snapshot.summary.operation.value}, {gold_files(gold_table)} data files"
    )
    started = time.perf_counter()
    result = run_ohlcv(spark, settings)
    incremental_s = time.perf_counter() - started
    assert result.mode == "incremental", result
    print(f"  run_ohlcv, mode {result.mode}, {result.minutes:,} 1m windows: {incremental_s:.1f} s")
    for line in collected.drain():
        print(f"    job log: {line}")
    whole = duckdb_bars("all N + M trades", lambda: read_gold(settings))
    print_baseline(whole, incremental_s)
    only_new = duckdb_bars(
        "only the M new trades", lambda: read_added(gold_table, snapshot.snapshot_id)
    )
    print_baseline(only_new, incremental_s)
    print(f"  verification: {verify(spark, settings, whole)}")
    print(f"  bars: {bar_counts(spark, settings)}")
    print(f"\nload average at end: {load()}", flush=True)
    spark.stop()


if __name__ == "__main__":
    main()
