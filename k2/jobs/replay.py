"""Rebuild silver and gold from bronze: the compliance re-run.

Bronze keeps every Kafka value as it arrived, so silver and gold can always be recomputed from
it. A replay reads a bronze range as a batch (everything, from a Kafka timestamp, or from Kafka
offsets in named topic partitions), runs the
same decode, normalise and validate step as the streaming job, and inserts into silver, the DLQ
and gold only the rows they lack, keyed by the bronze coordinates (silver, DLQ) and by the
record's deterministic id (gold). So replaying a range that was processed changes nothing, and
replaying after rows were lost puts back exactly the rows that were there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from k2.domain.markets import DataType, Exchange, raw_topic
from k2.domain.validation import DEFAULT_POLICY, ValidationPolicy
from k2.jobs.gold import gold_table, merge_into_gold
from k2.jobs.insert_missing import insert_missing
from k2.jobs.silver import dead_letter_rows, silver_rows
from k2.lake.tables import bronze_table, silver_dlq_table, silver_table
from k2.settings import K2Settings

SILVER_KEYS = ("source_topic", "source_partition", "source_offset")
DLQ_KEYS = ("topic", "partition", "offset")


@dataclass(frozen=True)
class ReplayResult:
    source_table: str
    bronze_rows: int
    silver_rows: int
    dlq_rows: int


@dataclass(frozen=True)
class KafkaPosition:
    """Replay a topic partition from this offset on (inclusive)."""

    topic: str
    partition: int
    offset: int


def parse_positions(text: str) -> tuple[KafkaPosition, ...]:
    """``topic:partition:offset[,topic:partition:offset...]``; raises ValueError saying what is
    wrong. Only raw topics K2 reads are accepted, each partition at most once."""
    known = {raw_topic(t, e) for t in DataType for e in Exchange}
    positions: dict[tuple[str, int], KafkaPosition] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        topic, _, rest = item.rpartition(":")
        topic, _, partition = topic.rpartition(":")
        if topic not in known:
            raise ValueError(
                f"{item!r}: not topic:partition:offset of a raw topic ({sorted(known)})"
            )
        try:
            position = KafkaPosition(topic, int(partition), int(rest))
        except ValueError:
            raise ValueError(f"{item!r}: partition and offset must be integers") from None
        if position.partition < 0 or position.offset < 0:
            raise ValueError(f"{item!r}: partition and offset cannot be negative")
        if (topic, position.partition) in positions:
            raise ValueError(f"{item!r}: partition {partition} of {topic} named twice")
        positions[(topic, position.partition)] = position
    if not positions:
        raise ValueError("no topic:partition:offset given")
    return tuple(positions.values())


ReplayStart = datetime | Sequence[KafkaPosition] | None
"""Everything (None), bronze rows from a Kafka timestamp, or from offsets: only the named
partitions, each from its offset on."""


def bronze_range(
    spark: SparkSession,
    settings: K2Settings,
    exchange: Exchange,
    data_type: DataType,
    since: ReplayStart,
) -> DataFrame:
    rows = spark.table(bronze_table(exchange, data_type).spark_identifier(settings.glue_database))
    if since is None:
        return rows
    if isinstance(since, datetime):
        return rows.where(F.col("kafka_timestamp") >= F.lit(since))
    topic = raw_topic(data_type, exchange)
    conditions = [
        (F.col("partition") == p.partition) & (F.col("offset") >= p.offset)
        for p in since
        if p.topic == topic
    ]
    in_range = reduce(lambda a, b: a | b, conditions, F.lit(False))
    return rows.where((F.col("topic") == topic) & in_range)


def replay(
    spark: SparkSession,
    settings: K2Settings,
    since: ReplayStart = None,
    exchanges: tuple[Exchange, ...] = tuple(Exchange),
    data_types: tuple[DataType, ...] = tuple(DataType),
    policy: ValidationPolicy = DEFAULT_POLICY,
) -> list[ReplayResult]:
    """Recompute silver, the DLQ and gold from the bronze rows ``since`` selects.

    With offsets, only the exchanges and data types whose raw topic is named are replayed."""
    if since is not None and not isinstance(since, datetime):
        named = {p.topic for p in since}
        exchanges = tuple(e for e in exchanges if any(raw_topic(t, e) in named for t in data_types))
        data_types = tuple(
            t for t in data_types if any(raw_topic(t, e) in named for e in exchanges)
        )
    database = settings.glue_database
    results = []
    for data_type in data_types:
        replayed: list[DataFrame] = []
        for exchange in exchanges:
            bronze = bronze_range(spark, settings, exchange, data_type, since).cache()
            silver = silver_rows(bronze, settings, exchange, data_type, policy).cache()
            dlq = dead_letter_rows(bronze, settings, exchange, data_type, policy)
            target = silver_table(exchange, data_type)
            insert_missing(silver, target.spark_identifier(database), SILVER_KEYS, "replay_silver")
            insert_missing(
                dlq, silver_dlq_table().spark_identifier(database), DLQ_KEYS, "replay_dlq"
            )
            results.append(
                ReplayResult(
                    source_table=bronze_table(exchange, data_type).name,
                    bronze_rows=bronze.count(),
                    silver_rows=silver.count(),
                    dlq_rows=dlq.count(),
                )
            )
            replayed.append(silver)
            bronze.unpersist()
        for silver in replayed:
            merge_into_gold(silver, gold_table(data_type), database)
            silver.unpersist()
    return results
