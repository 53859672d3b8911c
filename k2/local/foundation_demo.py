"""The foundation slice as `make demo` runs it: trades → Kafka → Spark bronze → Iceberg → DuckDB."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from k2.domain.markets import DataType, Exchange, raw_topic
from k2.jobs.bronze import BronzeRunResult, run_bronze
from k2.jobs.spark_session import build_spark_session
from k2.lake.catalog import glue_catalog
from k2.lake.tables import bronze_table
from k2.local.binance_trade_generator import binance_trades, publish_binance_trades
from k2.query.lake_reader import duckdb_over, read_table
from k2.settings import K2Settings


@dataclass(frozen=True)
class SliceReport:
    topic: str
    published: int
    bronze_run: BronzeRunResult
    bronze_rows_by_partition: list[tuple[int, int, int, int]]  # partition, rows, min/max offset
    table_location: str


def run_foundation_slice(
    settings: K2Settings, records: int, seed: int, progress: Callable[[str], None]
) -> SliceReport:
    progress(f"Publishing {records} Binance trades to Kafka")
    published = publish_binance_trades(settings, binance_trades(records, seed=seed))
    progress("Starting Spark (local[*], Iceberg on the Glue catalog)")
    spark = build_spark_session("k2-demo-bronze", settings)
    progress("Running the bronze job (availableNow)")
    result = run_bronze(spark, settings, Exchange.BINANCE, DataType.TRADES)
    progress("Reading bronze back through pyiceberg into DuckDB")
    catalog = glue_catalog(settings)
    identifier = bronze_table(Exchange.BINANCE, DataType.TRADES).identifier(settings.glue_database)
    arrow = read_table(catalog, identifier, ["partition", "offset"])
    per_partition = (
        duckdb_over({"bronze": arrow})
        .execute(
            'SELECT partition, count(*), min("offset"), max("offset") FROM bronze '
            "GROUP BY partition ORDER BY partition"
        )
        .fetchall()
    )
    return SliceReport(
        topic=raw_topic(DataType.TRADES, Exchange.BINANCE),
        published=len(published),
        bronze_run=result,
        bronze_rows_by_partition=[tuple(int(v) for v in row) for row in per_partition],  # type: ignore[misc]
        table_location=catalog.load_table(identifier).location(),
    )
