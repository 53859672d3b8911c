"""Every view of a table (Spark DDL, Glue columns, Iceberg schema) comes from one definition."""

from __future__ import annotations

import pytest
from pyiceberg.transforms import DayTransform
from pyiceberg.types import DecimalType, LongType, StringType, TimestamptzType

from k2.lake.table_definition import Column, Partition, TableDefinition
from k2.lake.tables import all_tables

pytestmark = pytest.mark.unit

EXAMPLE = TableDefinition(
    name="example",
    columns=(
        Column("symbol", StringType(), True, "normalised symbol"),
        Column("price", DecimalType(38, 18), True, "it's exact"),
        Column("trade_id", LongType(), False, "exchange id"),
        Column("ts", TimestamptzType(), True, "UTC"),
    ),
    partitions=(Partition("ts", DayTransform()),),
    properties={"write.target-file-size-bytes": "1024"},
    doc="an example",
)


def test_spark_ddl_lists_each_column_with_its_type_and_nullability() -> None:
    ddl = EXAMPLE.spark_ddl("db")
    assert ddl.startswith("CREATE TABLE IF NOT EXISTS glue_catalog.db.example (")
    assert "`symbol` STRING NOT NULL COMMENT 'normalised symbol'" in ddl
    assert "`price` DECIMAL(38,18) NOT NULL COMMENT 'it\\'s exact'" in ddl
    assert "`trade_id` BIGINT COMMENT" in ddl
    assert "`ts` TIMESTAMP NOT NULL" in ddl
    assert "PARTITIONED BY (days(`ts`))" in ddl
    assert "'write.target-file-size-bytes' = '1024'" in ddl  # the table's own value wins
    assert "'write.parquet.compression-codec' = 'zstd'" in ddl


def test_glue_columns_and_iceberg_schema_follow_the_same_order() -> None:
    assert [c["Name"] for c in EXAMPLE.glue_columns()] == ["symbol", "price", "trade_id", "ts"]
    assert [c["Type"] for c in EXAMPLE.glue_columns()] == [
        "string",
        "decimal(38,18)",
        "bigint",
        "timestamp",
    ]
    schema = EXAMPLE.iceberg_schema()
    assert [(f.field_id, f.name, f.required) for f in schema.fields] == [
        (1, "symbol", True),
        (2, "price", True),
        (3, "trade_id", False),
        (4, "ts", True),
    ]
    spec = EXAMPLE.partition_spec()
    assert [(f.source_id, f.name) for f in spec.fields] == [(4, "ts_day")]


def test_table_names_are_unique() -> None:
    names = [table.name for table in all_tables()]
    assert len(names) == len(set(names))
    assert "bronze_binance_trades" in names
