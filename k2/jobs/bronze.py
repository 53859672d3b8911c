"""Bronze: every Kafka value appended to Iceberg unchanged, with its Kafka coordinates.

Bronze is the audit record and the replay source, so it keeps the framed bytes as they were
produced and never decodes them; it reads the schema version id out of the Glue Schema Registry
header so silver knows which schema wrote each record.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery
from pyspark.sql.streaming.readwriter import DataStreamWriter

from k2.domain.markets import DataType, Exchange, raw_topic
from k2.domain.schema_registry_wire import (
    HEADER_LENGTH,
    HEADER_VERSION,
    SCHEMA_VERSION_ID_OFFSET,
)
from k2.feeds.kafka_security import spark_kafka_security
from k2.jobs.job_metrics import Job, QueryTarget
from k2.jobs.job_metrics_listener import await_reported, expect_query
from k2.lake.tables import bronze_table
from k2.settings import K2Settings


class Trigger(StrEnum):
    AVAILABLE_NOW = "available-now"  # scheduled catch-up run: everything up to now, then stop
    CONTINUOUS = "continuous"  # a processing-time trigger that runs until stopped


@dataclass(frozen=True)
class BronzeRunResult:
    table: str
    rows_appended: int
    batches: int


def schema_version_id(value: Column) -> Column:
    """The 16-byte schema version id of a Glue Schema Registry header, as a UUID string."""
    id_length = HEADER_LENGTH - SCHEMA_VERSION_ID_OFFSET
    hex_id = F.lower(F.hex(F.substring(value, SCHEMA_VERSION_ID_OFFSET + 1, id_length)))
    as_uuid = F.regexp_replace(hex_id, r"^(.{8})(.{4})(.{4})(.{4})(.{12})$", "$1-$2-$3-$4-$5")
    framed = (F.length(value) >= HEADER_LENGTH) & (
        F.hex(F.substring(value, 1, 1)) == F.lit(f"{HEADER_VERSION:02X}")
    )
    return F.when(framed, as_uuid)


def bronze_records(kafka_records: DataFrame) -> DataFrame:
    """Kafka source rows → bronze rows (the bronze table's columns, in order)."""
    return kafka_records.select(
        F.col("key"),
        F.col("value"),
        F.col("topic"),
        F.col("partition"),
        F.col("offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        schema_version_id(F.col("value")).alias("schema_version_id"),
        F.current_timestamp().alias("ingested_at"),
    )


def kafka_source(spark: SparkSession, settings: K2Settings, topic: str) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", settings.kafka_bootstrap_servers)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        # Offsets that vanished (retention ran before bronze did) must stop the job, not be skipped.
        .option("failOnDataLoss", "true")
        .option("maxOffsetsPerTrigger", "200000")
        .options(**spark_kafka_security(settings))
        .load()
    )


def with_trigger(
    writer: DataStreamWriter, trigger: Trigger, processing_interval: str
) -> DataStreamWriter:
    """availableNow for a scheduled catch-up run, a processing-time trigger for a continuous one."""
    if trigger is Trigger.AVAILABLE_NOW:
        return writer.trigger(availableNow=True)
    return writer.trigger(processingTime=processing_interval)


def start_bronze(
    spark: SparkSession,
    settings: K2Settings,
    exchange: Exchange,
    data_type: DataType,
    trigger: Trigger = Trigger.AVAILABLE_NOW,
    processing_interval: str = "10 seconds",
) -> StreamingQuery:
    """Start appending the topic's new records to bronze; the checkpoint makes a re-run add
    nothing."""
    table = bronze_table(exchange, data_type)
    for statement in table.spark_statements(settings.glue_database):
        spark.sql(statement)
    expect_query(spark, table.name, QueryTarget(Job.BRONZE, table.name))
    writer = (
        bronze_records(kafka_source(spark, settings, raw_topic(data_type, exchange)))
        .writeStream.format("iceberg")
        .outputMode("append")
        .option("checkpointLocation", settings.checkpoint_location(f"bronze/{table.name}"))
        .queryName(table.name)
    )
    return with_trigger(writer, trigger, processing_interval).toTable(
        table.spark_identifier(settings.glue_database)
    )


def run_bronze(
    spark: SparkSession,
    settings: K2Settings,
    exchange: Exchange,
    data_type: DataType,
    trigger: Trigger = Trigger.AVAILABLE_NOW,
    processing_interval: str = "10 seconds",
) -> BronzeRunResult:
    """Run bronze until it is caught up (availableNow) or stopped (continuous)."""
    query = start_bronze(spark, settings, exchange, data_type, trigger, processing_interval)
    query.awaitTermination()
    await_reported(spark, query)
    progress = query.recentProgress
    return BronzeRunResult(
        table=bronze_table(exchange, data_type).spark_identifier(settings.glue_database),
        rows_appended=sum(int(batch["numInputRows"]) for batch in progress),
        batches=sum(1 for batch in progress if batch["numInputRows"]),
    )
