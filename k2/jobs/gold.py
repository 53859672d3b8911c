"""Gold: one table of trades and one of quotes across exchanges, each record exactly once.

Silver tables of every exchange are read incrementally (Iceberg streaming reads of their
appends), unioned, deduplicated within the micro-batch and MERGEd into gold on the record's
deterministic key: insert when absent, never update. So a replayed bronze range, a restarted
job re-running a batch, or a feed handler that published a trade twice all leave gold unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming.query import StreamingQuery

from k2.domain.markets import DataType, Exchange
from k2.jobs.bronze import Trigger, with_trigger
from k2.jobs.insert_missing import insert_missing
from k2.jobs.job_metrics import Job, QueryTarget
from k2.jobs.job_metrics_listener import await_reported, expect_query, reporting_merge
from k2.lake.table_definition import TableDefinition
from k2.lake.tables import GOLD_UPDATED_AT, gold_quotes_table, gold_trades_table, silver_table
from k2.settings import K2Settings


@dataclass(frozen=True)
class GoldRunResult:
    table: str
    rows_in: int
    batches: int


def gold_table(data_type: DataType) -> TableDefinition:
    return gold_trades_table() if data_type is DataType.TRADES else gold_quotes_table()


def merge_keys(table: TableDefinition) -> list[str]:
    """The table's identifier fields, led by the symbol, gold's partition column, so Iceberg
    prunes the files the MERGE reads."""
    return list(dict.fromkeys(("symbol", *table.identifier_fields)))


def gold_rows(silver: DataFrame, table: TableDefinition) -> DataFrame:
    """Silver rows → gold's columns, one row per key (a batch may hold a record twice)."""
    columns = [c.name for c in table.columns if c.name != GOLD_UPDATED_AT.name]
    return (
        silver.select(*columns)
        .dropDuplicates(list(table.identifier_fields))
        .withColumn(GOLD_UPDATED_AT.name, F.current_timestamp())
    )


def merge_into_gold(batch: DataFrame, table: TableDefinition, database: str) -> None:
    """Insert the batch's records gold does not hold yet; idempotent, so re-runs are harmless."""
    insert_missing(
        gold_rows(batch, table),
        table.spark_identifier(database),
        merge_keys(table),
        view=f"gold_source_{table.name}",
    )


def merge_batch_into_gold(batch: DataFrame, table: TableDefinition, database: str) -> None:
    """One streaming batch's MERGE, its committed rows reported (its time comes with the
    batch's progress)."""
    reporting_merge(
        batch.sparkSession,
        Job.GOLD,
        table,
        database,
        lambda: merge_into_gold(batch, table, database),
        timed=False,
    )


def start_gold(
    spark: SparkSession,
    settings: K2Settings,
    data_type: DataType,
    trigger: Trigger = Trigger.AVAILABLE_NOW,
    processing_interval: str = "10 seconds",
) -> StreamingQuery:
    database = settings.glue_database
    target = gold_table(data_type)
    sources = [silver_table(exchange, data_type) for exchange in Exchange]
    for table in (*sources, target):
        for statement in table.spark_statements(database):
            spark.sql(statement)
    silver = reduce(
        DataFrame.unionByName,
        (
            spark.readStream.format("iceberg").load(source.spark_identifier(database))
            for source in sources
        ),
    )
    expect_query(spark, target.name, QueryTarget(Job.GOLD, target.name))
    writer = (
        silver.writeStream.foreachBatch(
            lambda batch, _batch_id: merge_batch_into_gold(batch, target, database)
        )
        .option("checkpointLocation", settings.checkpoint_location(f"gold/{target.name}"))
        .queryName(target.name)
    )
    return with_trigger(writer, trigger, processing_interval).start()


def run_gold(
    spark: SparkSession,
    settings: K2Settings,
    data_type: DataType,
    trigger: Trigger = Trigger.AVAILABLE_NOW,
    processing_interval: str = "10 seconds",
) -> GoldRunResult:
    query = start_gold(spark, settings, data_type, trigger, processing_interval)
    query.awaitTermination()
    await_reported(spark, query)
    progress = query.recentProgress
    return GoldRunResult(
        table=gold_table(data_type).spark_identifier(settings.glue_database),
        rows_in=sum(int(batch["numInputRows"]) for batch in progress),
        batches=sum(1 for batch in progress if batch["numInputRows"]),
    )
