"""The K2 tables: names, columns, layout, and every view of each derived from its one definition."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.table.sorting import NullOrder, SortDirection
from pyiceberg.types import (
    DecimalType,
    IcebergType,
    LongType,
    StringType,
    TimestamptzType,
)

from k2.domain.markets import DataType, Exchange
from k2.domain.ohlcv import OhlcvBar, Timeframe
from k2.lake.table_definition import (
    BASE_PROPERTIES,
    MERGE_ON_READ_PROPERTIES,
    TableDefinition,
    hive_type,
    spark_type,
)
from k2.lake.tables import (
    QUOTE_V2_COLUMNS,
    TRADE_V2_COLUMNS,
    all_tables,
    bronze_table,
    gold_quotes_table,
    gold_trades_table,
    ohlcv_table,
    silver_dlq_table,
    silver_table,
)

pytestmark = pytest.mark.unit

TABLES = all_tables()
LINEAGE = ["source_topic", "source_partition", "source_offset", "schema_version_id"]


def _ids(table: TableDefinition) -> str:
    return table.name


def _columns(table: TableDefinition) -> dict[str, tuple[IcebergType, bool]]:
    return {column.name: (column.type, column.required) for column in table.columns}


def test_the_table_names_other_code_relies_on() -> None:
    assert [table.name for table in TABLES] == [
        "bronze_binance_trades",
        "bronze_binance_quotes",
        "bronze_kraken_trades",
        "bronze_kraken_quotes",
        "silver_binance_trades",
        "silver_binance_quotes",
        "silver_kraken_trades",
        "silver_kraken_quotes",
        "silver_dlq",
        "gold_crypto_trades",
        "gold_crypto_quotes",
        "gold_ohlcv_1m",
        "gold_ohlcv_5m",
        "gold_ohlcv_30m",
        "gold_ohlcv_1h",
        "gold_ohlcv_1d",
    ]
    assert silver_table(Exchange.KRAKEN, DataType.QUOTES).name == "silver_kraken_quotes"
    assert bronze_table(Exchange.BINANCE, DataType.TRADES).name == "bronze_binance_trades"
    assert silver_dlq_table().name == "silver_dlq"
    assert gold_trades_table().name == "gold_crypto_trades"
    assert gold_quotes_table().name == "gold_crypto_quotes"


def test_a_bar_table_holds_every_field_of_the_domain_bar_and_its_vwap() -> None:
    domain = {f.name for f in fields(OhlcvBar)} - {"timeframe"}  # the table is the timeframe
    for timeframe in Timeframe:
        table = ohlcv_table(timeframe)
        columns = {column.name for column in table.columns}
        assert columns == domain | {"vwap", "created_at", "updated_at"}, table.name
        assert table.identifier_fields == ("exchange", "symbol", "window_start")


@pytest.mark.parametrize("table", TABLES, ids=_ids)
def test_every_view_derives_from_the_one_definition(table: TableDefinition) -> None:
    schema = table.iceberg_schema()
    assert [(f.name, f.field_type, f.required, f.doc) for f in schema.fields] == [
        (c.name, c.type, c.required, c.doc) for c in table.columns
    ]
    assert table.glue_columns() == [
        {"Name": c.name, "Type": hive_type(c.type), "Comment": c.doc} for c in table.columns
    ]
    ddl = table.spark_ddl("db")
    for column in table.columns:
        not_null = " NOT NULL" if column.required else ""
        assert f"`{column.name}` {spark_type(column.type)}{not_null} COMMENT '" in ddl
    assert [
        (schema.find_column_name(f.source_id), str(f.transform))
        for f in table.partition_spec().fields
    ] == [(part.source, str(part.transform)) for part in table.partitions]
    assert [schema.find_column_name(f.source_id) for f in table.iceberg_sort_order().fields] == [
        key.source for key in table.sort_order
    ]
    assert schema.identifier_field_names() == set(table.identifier_fields)


@pytest.mark.parametrize("table", TABLES, ids=_ids)
def test_every_table_and_column_is_documented(table: TableDefinition) -> None:
    assert table.doc
    assert all(column["Comment"].strip() for column in table.glue_columns())
    assert table.iceberg_properties()["comment"] == table.doc


@pytest.mark.parametrize("table", TABLES, ids=_ids)
def test_every_table_is_format_v2_zstd_parquet(table: TableDefinition) -> None:
    properties = table.all_properties
    assert properties["format-version"] == "2"
    assert properties["write.format.default"] == "parquet"
    assert properties["write.parquet.compression-codec"] == "zstd"
    assert table.format_version == 2
    assert BASE_PROPERTIES.items() <= properties.items()


@pytest.mark.parametrize("table", TABLES, ids=_ids)
def test_every_decimal_is_decimal_38_18(table: TableDefinition) -> None:
    decimals = [c for c in table.columns if isinstance(c.type, DecimalType)]
    assert all(c.type == DecimalType(38, 18) for c in decimals)
    if table.name.startswith(("silver_", "gold_")) and table.name != "silver_dlq":
        assert decimals  # prices and quantities are exact
        assert all(f"`{c.name}` DECIMAL(38,18) NOT NULL" in table.spark_ddl("db") for c in decimals)
        assert all(
            h["Type"] == "decimal(38,18)" for h in table.glue_columns() if "price" in h["Name"]
        )


def _avro_columns(path: Path) -> list[tuple[str, IcebergType, bool]]:
    """The Iceberg column each field of an Avro record schema becomes."""

    def iceberg(avro: Any) -> IcebergType:
        if avro == "string" or (isinstance(avro, dict) and avro["type"] == "enum"):
            return StringType()
        if avro == "long":
            return LongType()
        if avro.get("logicalType") == "timestamp-micros":
            return TimestamptzType()
        if avro.get("logicalType") == "decimal":
            return DecimalType(avro["precision"], avro["scale"])
        raise AssertionError(f"unmapped Avro type {avro}")

    columns = []
    for avro_field in json.loads(path.read_text())["fields"]:
        avro_type = avro_field["type"]
        if isinstance(avro_type, list):
            (non_null,) = [branch for branch in avro_type if branch != "null"]
            columns.append((avro_field["name"], iceberg(non_null), False))
        else:
            columns.append((avro_field["name"], iceberg(avro_type), True))
    return columns


@pytest.mark.parametrize(
    ("schema_file", "columns"),
    [("trade_v2.avsc", TRADE_V2_COLUMNS), ("quote_v2.avsc", QUOTE_V2_COLUMNS)],
)
def test_v2_columns_are_the_avro_schema_field_for_field(
    repo_root: Path, schema_file: str, columns: tuple[Any, ...]
) -> None:
    assert [(c.name, c.type, c.required) for c in columns] == _avro_columns(
        repo_root / "schemas" / schema_file
    )


@pytest.mark.parametrize("exchange", list(Exchange))
def test_silver_is_v2_plus_lineage_partitioned_by_a_time_every_row_has(
    exchange: Exchange,
) -> None:
    trades = silver_table(exchange, DataType.TRADES)
    quotes = silver_table(exchange, DataType.QUOTES)
    for table, v2 in ((trades, TRADE_V2_COLUMNS), (quotes, QUOTE_V2_COLUMNS)):
        names = [c.name for c in table.columns]
        assert names == [c.name for c in v2] + [*LINEAGE, "silver_ingested_at"]
        columns = _columns(table)
        assert columns["source_topic"] == (StringType(), True)
        assert columns["source_offset"] == (LongType(), True)
        assert columns["silver_ingested_at"] == (TimestamptzType(), True)
        assert not table.sort_order
        assert "merge-on-read" not in table.all_properties.values()  # append-only
    assert [(p.source, str(p.transform)) for p in trades.partitions] == [("timestamp", "day")]
    # Binance quotes carry no exchange time, so quotes partition on the time every row has.
    assert _columns(quotes)["exchange_timestamp"] == (TimestamptzType(), False)
    assert _columns(quotes)["ingestion_timestamp"] == (TimestamptzType(), True)
    assert [(p.source, str(p.transform)) for p in quotes.partitions] == [
        ("ingestion_timestamp", "day")
    ]
    assert "PARTITIONED BY (days(`ingestion_timestamp`))" in quotes.spark_ddl("db")


def test_silver_dlq_keeps_the_raw_bytes_where_they_came_from_and_why() -> None:
    table = silver_dlq_table()
    columns = _columns(table)
    assert list(columns) == [
        "source_table",
        "topic",
        "partition",
        "offset",
        "kafka_timestamp",
        "raw_value",
        "schema_version_id",
        "reason_class",
        "reason",
        "message",
        "exchange",
        "data_type",
        "detected_at",
    ]
    assert columns["raw_value"][1] is False  # a tombstone has no value, and still is recorded
    assert all(columns[name][1] for name in ("source_table", "offset", "reason_class", "reason"))
    assert columns["detected_at"] == (TimestamptzType(), True)
    assert [(p.source, str(p.transform)) for p in table.partitions] == [("detected_at", "day")]


@pytest.mark.parametrize("table", [gold_trades_table(), gold_quotes_table()], ids=_ids)
def test_gold_is_merge_on_read_partitioned_by_day_and_symbol(table: TableDefinition) -> None:
    assert MERGE_ON_READ_PROPERTIES.items() <= table.all_properties.items()
    for mode in ("write.merge.mode", "write.update.mode", "write.delete.mode"):
        assert f"'{mode}' = 'merge-on-read'" in table.spark_ddl("db")
    assert [c.name for c in table.columns][-1] == "gold_updated_at"
    assert _columns(table)["gold_updated_at"] == (TimestamptzType(), True)
    assert [str(p.transform) for p in table.partitions] == ["day", "identity"]
    assert table.partitions[1].source == "symbol"
    assert [p.name for p in table.partitions][1] == "symbol"
    assert all(_columns(table)[name][1] for name in table.identifier_fields)


def test_gold_trades_are_sorted_and_keyed_for_the_merge() -> None:
    table = gold_trades_table()
    assert [c.name for c in table.columns] == [c.name for c in TRADE_V2_COLUMNS] + [
        "gold_updated_at"
    ]
    assert [(p.source, str(p.transform)) for p in table.partitions] == [
        ("timestamp", "day"),
        ("symbol", "identity"),
    ]
    assert [key.source for key in table.sort_order] == ["symbol", "timestamp", "trade_id"]
    assert all(
        (f.direction, f.null_order) == (SortDirection.ASC, NullOrder.NULLS_FIRST)
        for f in table.iceberg_sort_order().fields
    )
    assert table.identifier_fields == ("exchange", "symbol", "trade_id")
    assert table.spark_statements("db") == [
        table.spark_ddl("db"),
        "ALTER TABLE glue_catalog.db.gold_crypto_trades WRITE ORDERED BY "
        "`symbol` ASC NULLS FIRST, `timestamp` ASC NULLS FIRST, `trade_id` ASC NULLS FIRST",
        "ALTER TABLE glue_catalog.db.gold_crypto_trades SET IDENTIFIER FIELDS "
        "`exchange`, `symbol`, `trade_id`",
    ]


def test_gold_quotes_partition_and_sort_on_the_time_every_quote_has() -> None:
    table = gold_quotes_table()
    assert [c.name for c in table.columns] == [c.name for c in QUOTE_V2_COLUMNS] + [
        "gold_updated_at"
    ]
    assert [(p.source, str(p.transform)) for p in table.partitions] == [
        ("ingestion_timestamp", "day"),
        ("symbol", "identity"),
    ]
    assert [key.source for key in table.sort_order] == ["symbol", "ingestion_timestamp"]
    assert table.identifier_fields == ("message_id",)
