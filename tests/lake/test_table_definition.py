"""Every view of a table (Spark DDL, Glue columns, Iceberg schema) comes from one definition."""

from __future__ import annotations

import pytest
from pyiceberg.table.sorting import NullOrder, SortDirection
from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    TruncateTransform,
    YearTransform,
)
from pyiceberg.types import DecimalType, LongType, StringType, TimestamptzType

from k2.lake.table_definition import Column, Partition, SortKey, TableDefinition
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


@pytest.mark.parametrize(
    ("transform", "name", "spark"),
    [
        (IdentityTransform(), "symbol", "`symbol`"),
        (BucketTransform(16), "symbol_bucket", "bucket(16, `symbol`)"),
        (TruncateTransform(4), "symbol_trunc", "truncate(4, `symbol`)"),
        (YearTransform(), "symbol_year", "years(`symbol`)"),
        (MonthTransform(), "symbol_month", "months(`symbol`)"),
        (DayTransform(), "symbol_day", "days(`symbol`)"),
        (HourTransform(), "symbol_hour", "hours(`symbol`)"),
    ],
)
def test_partition_names_and_spark_transforms_match_iceberg_defaults(
    transform: Transform[object, object], name: str, spark: str
) -> None:
    """Names as Iceberg (Java) names them when Spark DDL gives none, so both paths agree."""
    partition = Partition("symbol", transform)
    assert partition.name == name
    table = TableDefinition("t", EXAMPLE.columns, partitions=(partition,))
    assert f"PARTITIONED BY ({spark})" in table.spark_ddl("db")


SORTED = TableDefinition(
    name="sorted",
    columns=EXAMPLE.columns,
    sort_order=(SortKey("symbol"), SortKey("ts", descending=True)),
    identifier_fields=("symbol", "ts"),
    doc="sorted",
)


def test_sort_order_and_identifier_fields_for_pyiceberg_and_spark() -> None:
    order = SORTED.iceberg_sort_order()
    assert [(f.source_id, f.direction, f.null_order) for f in order.fields] == [
        (1, SortDirection.ASC, NullOrder.NULLS_FIRST),
        (4, SortDirection.DESC, NullOrder.NULLS_LAST),
    ]
    assert SORTED.iceberg_schema().identifier_field_ids == [1, 4]
    assert SORTED.spark_statements("db") == [
        SORTED.spark_ddl("db"),
        "ALTER TABLE glue_catalog.db.sorted WRITE ORDERED BY "
        "`symbol` ASC NULLS FIRST, `ts` DESC NULLS LAST",
        "ALTER TABLE glue_catalog.db.sorted SET IDENTIFIER FIELDS `symbol`, `ts`",
    ]
    assert EXAMPLE.spark_statements("db") == [EXAMPLE.spark_ddl("db")]
    assert EXAMPLE.iceberg_sort_order().is_unsorted


def test_iceberg_properties_carry_the_doc_as_comment() -> None:
    assert EXAMPLE.iceberg_properties() == {**EXAMPLE.all_properties, "comment": "an example"}
    assert "COMMENT 'an example'" in EXAMPLE.spark_ddl("db")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"partitions": (Partition("nope", DayTransform()),)}, "no such column"),
        ({"sort_order": (SortKey("nope"),)}, "no such column"),
        ({"identifier_fields": ("trade_id",)}, "identifier fields must be required"),
        ({"columns": (*EXAMPLE.columns, EXAMPLE.columns[0])}, "duplicate column"),
        ({"columns": (Column("x", LongType(), True, " "),)}, "without a doc"),
    ],
)
def test_a_definition_that_contradicts_itself_is_refused(
    changes: dict[str, object], error: str
) -> None:
    fields: dict[str, object] = {"name": "bad", "columns": EXAMPLE.columns, **changes}
    with pytest.raises(ValueError, match=error):
        TableDefinition(**fields)  # type: ignore[arg-type]
