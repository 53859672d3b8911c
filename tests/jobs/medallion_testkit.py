"""Shared parts of the medallion tests: feeding the raw topics from the exchange simulator for as
long as a test needs, running every job once, reading the Spark checkpoints, and checking that
every layer holds a run's records exactly once.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import reduce
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from k2.aws import aws_client
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.feeds.feed_handler import FeedCounters
from k2.feeds.topic_reader import Offsets, end_offsets
from k2.jobs.bronze import start_bronze
from k2.jobs.gold import gold_table, start_gold
from k2.jobs.silver import start_silver
from k2.lake.catalog import glue_catalog
from k2.lake.tables import all_tables, bronze_table, silver_dlq_table, silver_table
from k2.local.exchange_simulator import (
    ExchangeSimulator,
    FaultKind,
    FaultRequest,
    SimulatorConfig,
)
from k2.local.feed_reconciliation import ComparableTrade, ground_truth_trade
from k2.settings import K2Settings
from tests.feeds.feed_testkit import run_handlers, simulator_handlers

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

RAW_TOPICS = [raw_topic(t, e) for t in DataType for e in Exchange]
PAIRS = [(exchange, data_type) for exchange in Exchange for data_type in DataType]

# Spark's own names for the snapshot summary entries of its Iceberg streaming sink.
QUERY_ID = "spark.sql.streaming.queryId"
EPOCH_ID = "spark.sql.streaming.epochId"


# --- feeding ---------------------------------------------------------------------------------


class Feed:
    """The simulator and both feed handlers publishing to the raw topics on a thread while the
    ``with`` block runs, with faults (gaps, duplicates, disconnects) on a loop; on leaving it,
    faults off, the markets paused, and the handlers drained, so Kafka ends up holding every
    trade in ``ground_truth`` (everything the markets made). ``on_air`` is set once the
    handlers have been publishing for a second.
    """

    def __init__(self, settings: K2Settings, ground_truth: Path, *, seed: int) -> None:
        self.settings = settings
        self.ground_truth = ground_truth
        self.seed = seed
        self.on_air = threading.Event()
        self.counters: dict[Exchange, FeedCounters] = {}
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="k2-test-feed", daemon=True)

    def __enter__(self) -> Feed:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        except Exception:
            if error is None:
                raise  # else the block's own error is the one worth reporting

    def stop(self, timeout: float = 120.0) -> None:
        """Stop feeding and wait for the handlers to drain; raises what the thread raised."""
        self._stop.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("the feed did not stop")
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            asyncio.run(self._scenario())
        except BaseException as error:  # reported by stop()
            self._error = error

    async def _scenario(self) -> None:
        config = SimulatorConfig(
            seed=self.seed, rate=100, ground_truth=self.ground_truth, wait_for_subscriber=True
        )
        async with ExchangeSimulator(config) as sim:
            handlers = simulator_handlers(
                sim, self.settings, stale_after_s=1.5, resume_from_kafka=False
            )

            async def script() -> None:
                await asyncio.sleep(1.0)
                self.on_air.set()
                faults = (FaultKind.SKIP, FaultKind.DUPLICATE, FaultKind.DISCONNECT)
                index = 0
                while not self._stop.is_set():
                    sim.inject(FaultRequest(faults[index % len(faults)], count=10))
                    index += 1
                    for _ in range(10):
                        if self._stop.is_set():
                            break
                        await asyncio.sleep(0.1)
                sim.clear_faults()
                await asyncio.sleep(2.0)  # gaps backfilled, reconnects done
                sim.pause_markets()
                await asyncio.sleep(1.0)

            self.counters = await run_handlers(handlers, script())


# --- jobs ------------------------------------------------------------------------------------


def refresh_tables(spark: SparkSession, settings: K2Settings) -> None:
    """Forget the session catalog's cached tables, as a freshly started job has none: another
    application (the killed pipeline) may have committed to them since this session read them."""
    for table in all_tables():
        identifier = table.spark_identifier(settings.glue_database)
        if spark.catalog.tableExists(identifier):
            spark.sql(f"REFRESH TABLE {identifier}")


def run_jobs(spark: SparkSession, settings: K2Settings) -> None:
    """Every job once (availableNow), as the scheduled Glue jobs would run them: the bronze
    jobs together, then the silver jobs, then gold (the jobs of one layer only share the
    machine; each query keeps its own checkpoint)."""
    refresh_tables(spark, settings)
    layers: list[Callable[[], list[StreamingQuery]]] = [
        lambda: [start_bronze(spark, settings, e, t) for e, t in PAIRS],
        lambda: [q for e, t in PAIRS for q in start_silver(spark, settings, e, t)],
        lambda: [start_gold(spark, settings, t) for t in DataType],
    ]
    for start_layer in layers:
        for query in start_layer():
            query.awaitTermination()


# --- checkpoints -----------------------------------------------------------------------------


def query_checkpoints() -> list[str]:
    """The checkpoint name of every streaming query the pipeline runs (14)."""
    names = [f"bronze/{bronze_table(e, t).name}" for e, t in PAIRS]
    for exchange, data_type in PAIRS:
        names.append(f"silver/{silver_table(exchange, data_type).name}")
        names.append(f"silver/{silver_dlq_table().name}_{bronze_table(exchange, data_type).name}")
    names.extend(f"gold/{gold_table(data_type).name}" for data_type in DataType)
    return names


@dataclass(frozen=True)
class CheckpointState:
    """Where one query's checkpoint stands: the last batch planned (offsets log) and the last
    batch committed (commit log). ``planned > committed`` is a batch in flight."""

    name: str
    planned: int | None
    committed: int | None

    @property
    def in_flight(self) -> int | None:
        if self.planned is None or (self.committed is not None and self.committed >= self.planned):
            return None
        return self.planned


class Checkpoints:
    """Spark's checkpoints on S3, read the way Spark's metadata logs name their files."""

    def __init__(self, settings: K2Settings) -> None:
        self.settings = settings
        self.bucket = settings.checkpoints_bucket
        self.s3 = aws_client("s3", settings)

    def _batch_ids(self, prefix: str) -> list[int]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        names = (obj["Key"][len(prefix) :] for page in pages for obj in page.get("Contents", []))
        return sorted(int(name) for name in names if name.isdigit())

    def state(self, name: str) -> CheckpointState:
        planned = self._batch_ids(f"{name}/offsets/")
        committed = self._batch_ids(f"{name}/commits/")
        return CheckpointState(
            name, planned[-1] if planned else None, committed[-1] if committed else None
        )

    def states(self) -> list[CheckpointState]:
        return [self.state(name) for name in query_checkpoints()]

    def _text(self, key: str) -> str:
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        return str(body.read().decode("utf-8"))

    def query_id(self, name: str) -> str:
        return str(json.loads(self._text(f"{name}/metadata"))["id"])

    def batch_timestamp_ms(self, name: str, batch: int) -> int:
        """When Spark planned the batch: the offsets file's metadata line."""
        lines = self._text(f"{name}/offsets/{batch}").splitlines()
        return int(json.loads(lines[1])["batchTimestampMs"])


def _checkpoint_table(name: str, settings: K2Settings) -> str:
    """The Iceberg table a query (by checkpoint name, ``layer/query``) writes."""
    query = name.split("/", 1)[1]
    dlq = silver_dlq_table().name
    return f"{settings.glue_database}.{dlq if query.startswith(f'{dlq}_') else query}"


def batch_in_table(checkpoints: Checkpoints, state: CheckpointState) -> bool:
    """Whether the in-flight batch's output is already committed to its table although the
    checkpoint does not say so: the window a restart must not write twice.

    Iceberg sinks stamp each snapshot with the query id and epoch (batch) id; gold's
    ``foreachBatch`` MERGE does not, but only the gold query writes gold, so a gold snapshot
    newer than the batch's planning time is that batch's MERGE.
    """
    batch = state.in_flight
    if batch is None:
        return False
    table = glue_catalog(checkpoints.settings).load_table(
        _checkpoint_table(state.name, checkpoints.settings)
    )
    if state.name.startswith("gold/"):
        planned_at = checkpoints.batch_timestamp_ms(state.name, batch)
        return any(s.timestamp_ms >= planned_at for s in table.snapshots())
    query_id = checkpoints.query_id(state.name)
    return any(
        s.summary is not None
        and s.summary.get(QUERY_ID) == query_id
        and s.summary.get(EPOCH_ID) == str(batch)
        for s in table.snapshots()
    )


def describe_states(
    checkpoints: Checkpoints, states: list[CheckpointState]
) -> list[dict[str, Any]]:
    return [
        {
            "query": s.name,
            "planned": s.planned,
            "committed": s.committed,
            "in_flight": s.in_flight,
            "in_flight_batch_already_in_table": batch_in_table(checkpoints, s),
        }
        for s in states
    ]


# --- checks ----------------------------------------------------------------------------------


def _in_range(topic: str, start: Offsets, end: Offsets, names: tuple[str, str, str]) -> str:
    """SQL: the row's Kafka coordinates (column ``names``) lie in the run's range of ``topic``."""
    topic_column, partition_column, offset_column = names
    ranges = [
        f"(`{partition_column}` = {tp.partition} AND `{offset_column}` >= {start.get(tp, 0)} "
        f"AND `{offset_column}` < {end[tp]})"
        for tp in end
        if tp.topic == topic
    ]
    return f"`{topic_column}` = '{topic}' AND ({' OR '.join(ranges) or 'false'})"


def _range_size(topic: str, start: Offsets, end: Offsets) -> int:
    return sum(end[tp] - start.get(tp, 0) for tp in end if tp.topic == topic)


def _coverage(rows: DataFrame) -> dict[str, tuple[int, int]]:
    """Per topic: (rows, distinct coordinates) of a frame of (topic, partition, offset)."""
    counted = rows.groupBy("topic", "partition", "offset").count()
    totals = counted.groupBy("topic").agg(
        F.sum("count").alias("rows"), F.count("*").alias("distinct")
    )
    return {row["topic"]: (int(row["rows"]), int(row["distinct"])) for row in totals.collect()}


def bronze_counts(
    spark: SparkSession, settings: K2Settings, start: Offsets, end: Offsets
) -> dict[str, tuple[int, int]]:
    """Per raw topic: bronze rows of the run's records and their distinct coordinates."""
    database = settings.glue_database
    coordinates = ("topic", "partition", "offset")
    bronze = [
        spark.table(bronze_table(e, t).spark_identifier(database)).select(*coordinates)
        for e, t in PAIRS
    ]
    return _coverage(reduce(DataFrame.unionByName, bronze).where(_in_run(start, end)))


def _in_run(start: Offsets, end: Offsets) -> str:
    coordinates = ("topic", "partition", "offset")
    return " OR ".join(f"({_in_range(topic, start, end, coordinates)})" for topic in RAW_TOPICS)


def layer_counts(
    spark: SparkSession, settings: K2Settings, start: Offsets, end: Offsets
) -> dict[str, dict[str, int]]:
    """Per raw topic: the run's records, bronze rows for them and their distinct coordinates,
    and the same for silver and the DLQ together (each bronze row lands in exactly one)."""
    refresh_tables(spark, settings)
    in_bronze = bronze_counts(spark, settings, start, end)
    database = settings.glue_database
    decoded: list[DataFrame] = [
        spark.table(silver_dlq_table().spark_identifier(database)).select(
            "topic", "partition", "offset"
        )
    ]
    for exchange, data_type in PAIRS:
        decoded.append(
            spark.table(silver_table(exchange, data_type).spark_identifier(database)).selectExpr(
                "source_topic AS topic", "source_partition AS partition", "source_offset AS offset"
            )
        )
    in_silver = _coverage(reduce(DataFrame.unionByName, decoded).where(_in_run(start, end)))
    counts: dict[str, dict[str, int]] = {}
    for topic in RAW_TOPICS:
        bronze_rows, bronze_distinct = in_bronze.get(topic, (0, 0))
        silver_rows, silver_distinct = in_silver.get(topic, (0, 0))
        counts[topic] = {
            "records": _range_size(topic, start, end),
            "bronze_rows": bronze_rows,
            "bronze_distinct": bronze_distinct,
            "silver_and_dlq_rows": silver_rows,
            "silver_and_dlq_distinct": silver_distinct,
        }
    return counts


def gold_trades(spark: SparkSession, settings: K2Settings) -> list[dict[str, Any]]:
    table = gold_table(DataType.TRADES).spark_identifier(settings.glue_database)
    rows = spark.table(table).selectExpr("*", "unix_micros(timestamp) AS timestamp_us").collect()
    return [row.asDict() for row in rows]


def as_comparable(row: dict[str, Any]) -> ComparableTrade:
    return ComparableTrade(
        Exchange(row["exchange"]),
        row["exchange_symbol"],
        row["trade_id"],
        Decimal(row["price"]).normalize(),
        Decimal(row["quantity"]).normalize(),
        row["timestamp_us"],
        row["side"].lower(),
    )


def made_trades(ground_truth: Path) -> list[ComparableTrade]:
    """The simulator's ground truth, decimals normalised like gold's."""
    made = [ground_truth_trade(json.loads(line)) for line in ground_truth.read_text().splitlines()]
    return [
        ComparableTrade(
            t.exchange,
            t.symbol,
            t.trade_id,
            t.price.normalize(),
            t.qty.normalize(),
            t.time_us,
            t.side,
        )
        for t in made
    ]


@dataclass(frozen=True)
class GoldCheck:
    made: list[ComparableTrade]
    ours: list[ComparableTrade]
    most_copies_of_a_trade: int
    most_copies_of_a_quote: int
    silver_quotes_missing_from_gold: int


def check_gold(
    spark: SparkSession, settings: K2Settings, ground_truth: Path, start: Offsets, end: Offsets
) -> GoldCheck:
    """Gold trades against the ground truth; gold quotes against the run's silver quotes."""
    refresh_tables(spark, settings)
    made = made_trades(ground_truth)
    gold = gold_trades(spark, settings)
    keys = Counter((row["exchange"], row["symbol"], row["trade_id"]) for row in gold)
    made_keys = {(t.exchange, t.symbol, t.trade_id) for t in made}
    ours = [t for t in map(as_comparable, gold) if (t.exchange, t.symbol, t.trade_id) in made_keys]

    database = settings.glue_database
    quotes = spark.table(gold_table(DataType.QUOTES).spark_identifier(database))
    quote_copies = quotes.groupBy("message_id").count().selectExpr("max(count)").collect()[0][0]
    missing = 0
    for exchange in Exchange:
        topic = raw_topic(DataType.QUOTES, exchange)
        silver = spark.table(silver_table(exchange, DataType.QUOTES).spark_identifier(database))
        ran = silver.where(
            _in_range(topic, start, end, ("source_topic", "source_partition", "source_offset"))
        )
        missing += ran.join(quotes, "message_id", "left_anti").count()
    return GoldCheck(
        made=sorted(made, key=str),
        ours=sorted(ours, key=str),
        most_copies_of_a_trade=max(keys.values(), default=0),
        most_copies_of_a_quote=int(quote_copies or 0),
        silver_quotes_missing_from_gold=missing,
    )


def run_offsets(settings: K2Settings) -> Offsets:
    return end_offsets(settings, RAW_TOPICS)


def run_sizes(start: Offsets, end: Offsets) -> dict[str, int]:
    """Per raw topic: how many records the run put in it."""
    return {topic: _range_size(topic, start, end) for topic in RAW_TOPICS}
