"""Silver: bronze rows decoded with their writer's schema, normalised, validated; every refused
row goes to ``silver_dlq`` with its raw bytes and a reason.

The per-row logic is :mod:`k2.jobs.silver_records` (pure Python, the same rules the domain
defines); Spark runs it over Arrow batches in ``mapInArrow``. Two streaming queries read the same
bronze table, one appending silver rows and one appending DLQ rows, so each has the Iceberg
sink's own exactly-once commit (a batch re-run after a crash is recognised and skipped) and
neither needs a MERGE. Decoding twice costs CPU, not correctness.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any
from uuid import UUID

import pyarrow as pa
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DecimalType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestamptzType,
)
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from k2.domain.markets import DataType, Exchange
from k2.domain.validation import DEFAULT_POLICY, ValidationPolicy
from k2.jobs.bronze import Trigger, with_trigger
from k2.jobs.job_metrics import (
    DEAD_LETTER_REASONS,
    DEAD_LETTER_ROWS,
    DEAD_LETTERS_OBSERVED,
    Job,
    QueryTarget,
    reason_column,
)
from k2.jobs.job_metrics_listener import await_reported, expect_query
from k2.jobs.silver_records import UnknownSchemaVersionError, split_bronze_rows
from k2.lake.table_definition import Column, TableDefinition, spark_type
from k2.lake.tables import bronze_table, silver_dlq_table, silver_table
from k2.settings import K2Settings

SILVER_INGESTED_AT = "silver_ingested_at"
DETECTED_AT = "detected_at"


@dataclass(frozen=True)
class SilverRunResult:
    silver_table: str
    rows_in: int
    silver_rows: int
    dlq_rows: int


def _arrow_type(iceberg_type: IcebergType) -> pa.DataType:
    if isinstance(iceberg_type, DecimalType):
        return pa.decimal128(iceberg_type.precision, iceberg_type.scale)
    simple: dict[type[IcebergType], pa.DataType] = {
        StringType: pa.string(),
        LongType: pa.int64(),
        IntegerType: pa.int32(),
        BooleanType: pa.bool_(),
        BinaryType: pa.binary(),
        TimestamptzType: pa.timestamp("us", tz="UTC"),
    }
    return simple[type(iceberg_type)]


def _columns_without(table: TableDefinition, stamped: str) -> tuple[Column, ...]:
    """The table's columns except the one Spark stamps after the Python step."""
    return tuple(column for column in table.columns if column.name != stamped)


def _spark_schema(columns: tuple[Column, ...]) -> str:
    return ", ".join(f"`{c.name}` {spark_type(c.type)}" for c in columns)


def _arrow_batch(rows: list[dict[str, Any]], columns: tuple[Column, ...]) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [pa.array([row[c.name] for row in rows], type=_arrow_type(c.type)) for c in columns],
        names=[c.name for c in columns],
    )


def registry_lookup(endpoint_url: str | None, region: str) -> Callable[[UUID], Any]:
    """A schema lookup for Python workers: one Glue client per worker, each version fetched once.

    Version ids are unique across registries, so the lookup needs no registry name."""
    import boto3

    from k2.feeds.avro_schemas import parse_schema

    glue = boto3.client("glue", endpoint_url=endpoint_url, region_name=region)

    @cache
    def fetch(version_id: UUID) -> Any | None:
        """The parsed schema, or None for an unknown id (remembered too: bronze may hold
        thousands of records of a version the registry lost)."""
        try:
            response = glue.get_schema_version(SchemaVersionId=str(version_id))
        except glue.exceptions.EntityNotFoundException:
            return None
        return parse_schema(response["SchemaDefinition"])

    def lookup(version_id: UUID) -> Any:
        schema = fetch(version_id)
        if schema is None:
            raise UnknownSchemaVersionError(str(version_id))
        return schema

    return lookup


def _decoder(
    settings: K2Settings,
    exchange: Exchange,
    data_type: DataType,
    keep_silver: bool,
    policy: ValidationPolicy,
) -> Callable[[Iterable[pa.RecordBatch]], Iterable[pa.RecordBatch]]:
    """The ``mapInArrow`` function: bronze batches in, silver (or DLQ) batches out."""
    silver_columns = _columns_without(silver_table(exchange, data_type), SILVER_INGESTED_AT)
    dlq_columns = _columns_without(silver_dlq_table(), DETECTED_AT)
    endpoint, region = settings.aws_endpoint_url, settings.region  # plain values: pickled

    def decode(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        lookup = registry_lookup(endpoint, region)
        for batch in batches:
            silver, dlq = split_bronze_rows(batch.to_pylist(), exchange, data_type, lookup, policy)
            if keep_silver:
                yield _arrow_batch(silver, silver_columns)
            else:
                yield _arrow_batch(dlq, dlq_columns)

    return decode


def _output(
    bronze: DataFrame,
    settings: K2Settings,
    exchange: Exchange,
    data_type: DataType,
    policy: ValidationPolicy,
    keep_silver: bool,
) -> DataFrame:
    """One side of the split: the decode step's rows for silver, or for the DLQ, stamped."""
    table = silver_table(exchange, data_type) if keep_silver else silver_dlq_table()
    stamped = SILVER_INGESTED_AT if keep_silver else DETECTED_AT
    columns = _columns_without(table, stamped)
    return bronze.mapInArrow(
        _decoder(settings, exchange, data_type, keep_silver, policy), _spark_schema(columns)
    ).withColumn(stamped, F.current_timestamp())


def silver_rows(
    bronze: DataFrame,
    settings: K2Settings,
    exchange: Exchange,
    data_type: DataType,
    policy: ValidationPolicy = DEFAULT_POLICY,
) -> DataFrame:
    """Bronze rows → the silver table's rows (valid records only)."""
    return _output(bronze, settings, exchange, data_type, policy, keep_silver=True)


def dead_letter_rows(
    bronze: DataFrame,
    settings: K2Settings,
    exchange: Exchange,
    data_type: DataType,
    policy: ValidationPolicy = DEFAULT_POLICY,
) -> DataFrame:
    """Bronze rows → ``silver_dlq`` rows (refused records only)."""
    return _output(bronze, settings, exchange, data_type, policy, keep_silver=False)


def observing_dead_letters(dlq_rows: DataFrame) -> DataFrame:
    """The DLQ rows, counted per batch by reason (Spark reports the counts with the batch's
    progress, for the SilverDeadLetters metrics)."""
    counts = [
        F.count_if(
            (F.col("reason_class") == reason_class.value) & (F.col("reason") == reason.value)
        ).alias(reason_column(reason_class, reason))
        for reason_class, reason in DEAD_LETTER_REASONS
    ]
    return dlq_rows.observe(
        DEAD_LETTERS_OBSERVED, F.count(F.lit(1)).alias(DEAD_LETTER_ROWS), *counts
    )


def start_silver(
    spark: SparkSession,
    settings: K2Settings,
    exchange: Exchange,
    data_type: DataType,
    trigger: Trigger = Trigger.AVAILABLE_NOW,
    processing_interval: str = "10 seconds",
    policy: ValidationPolicy = DEFAULT_POLICY,
) -> tuple[StreamingQuery, StreamingQuery]:
    """Start the silver query and the DLQ query over one bronze table."""
    database = settings.glue_database
    source = bronze_table(exchange, data_type)
    target = silver_table(exchange, data_type)
    dlq = silver_dlq_table()
    for table in (source, target, dlq):
        for statement in table.spark_statements(database):
            spark.sql(statement)
    queries = []
    for rows, table, name in (
        (silver_rows, target, target.name),
        (dead_letter_rows, dlq, f"{dlq.name}_{source.name}"),
    ):
        bronze = spark.readStream.format("iceberg").load(source.spark_identifier(database))
        output = rows(bronze, settings, exchange, data_type, policy)
        if table is dlq:
            output = observing_dead_letters(output)
        expect_query(
            spark,
            name,
            QueryTarget(Job.SILVER, table.name, dead_letters_of=exchange if table is dlq else None),
        )
        writer = (
            output.writeStream.format("iceberg")
            .outputMode("append")
            .option("checkpointLocation", settings.checkpoint_location(f"silver/{name}"))
            .queryName(name)
        )
        queries.append(
            with_trigger(writer, trigger, processing_interval).toTable(
                table.spark_identifier(database)
            )
        )
    return queries[0], queries[1]


def run_silver(
    spark: SparkSession,
    settings: K2Settings,
    exchange: Exchange,
    data_type: DataType,
    trigger: Trigger = Trigger.AVAILABLE_NOW,
    processing_interval: str = "10 seconds",
    policy: ValidationPolicy = DEFAULT_POLICY,
) -> SilverRunResult:
    """Bring silver and the DLQ up to date with bronze (or keep them so, continuously)."""
    queries = start_silver(
        spark, settings, exchange, data_type, trigger, processing_interval, policy
    )
    for query in queries:
        query.awaitTermination()
    await_reported(spark, *queries)
    silver_progress, dlq_progress = (query.recentProgress for query in queries)
    return SilverRunResult(
        silver_table=silver_table(exchange, data_type).spark_identifier(settings.glue_database),
        rows_in=sum(int(p["numInputRows"]) for p in silver_progress),
        silver_rows=_rows_written(silver_progress),
        dlq_rows=_rows_written(dlq_progress),
    )


def _rows_written(progress: list[dict[str, Any]]) -> int:
    """Rows the sink committed, from the progress reports' sink metrics."""
    return sum(
        int(p.get("sink", {}).get("numOutputRows", -1)) for p in progress if p["numInputRows"]
    )
