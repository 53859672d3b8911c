"""init_lake against the local cloud's Glue catalog and S3: create, evolve, refuse, idempotently.

Each test works in a database of its own, so it neither sees nor disturbs other tests' tables.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pyarrow as pa
import pytest
from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.table.sorting import NullOrder, SortDirection
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    TimestamptzType,
)

from k2.aws import aws_client
from k2.lake.catalog import glue_catalog
from k2.lake.lake_init import (
    IncompatibleTableChange,
    Outcome,
    TableChange,
    init_lake,
    plan_lake,
)
from k2.lake.table_definition import Column, Partition, SortKey, TableDefinition
from k2.lake.tables import all_tables, gold_trades_table
from k2.settings import K2Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration


@pytest.fixture
def catalog(k2_settings: K2Settings) -> GlueCatalog:
    return glue_catalog(k2_settings)


@pytest.fixture
def database() -> str:
    return f"k2_init_{uuid4().hex[:8]}"


PRICES = TableDefinition(
    name="prices",
    columns=(
        Column("symbol", StringType(), True, "normalised symbol"),
        Column("ts", TimestamptzType(), True, "trade time"),
        Column("price", DecimalType(38, 18), True, "exact price"),
        Column("size", IntegerType(), True, "a size"),
        Column("venue", StringType(), False, "where"),
    ),
    # Identity partitions only: pyiceberg 0.12 needs the optional pyiceberg-core package to append
    # to a table with a time transform, and the tests append through pyiceberg.
    partitions=(Partition("symbol", IdentityTransform()),),
    sort_order=(SortKey("symbol"), SortKey("ts")),
    identifier_fields=("symbol", "ts"),
    properties={"write.target-file-size-bytes": "1048576"},
    doc="prices, version 1",
)

ROW = {
    "symbol": "BTCUSD",
    "ts": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    "price": Decimal("104250.123456789012345678"),
    "size": 3,
    "venue": "kraken",
}


def _append(catalog: GlueCatalog, identifier: str, rows: list[dict[str, Any]]) -> None:
    table = catalog.load_table(identifier)
    table.append(pa.Table.from_pylist(rows, schema=table.schema().as_arrow()))


def _rows(catalog: GlueCatalog, identifier: str) -> list[dict[str, Any]]:
    rows = catalog.load_table(identifier).scan().to_arrow().to_pylist()
    return sorted(rows, key=lambda row: (row["ts"], row["symbol"]))


def _metadata_location(catalog: GlueCatalog, identifier: str) -> str:
    return catalog.load_table(identifier).metadata_location


def test_first_run_creates_every_table_as_defined_and_a_second_changes_nothing(
    catalog: GlueCatalog, database: str, k2_settings: K2Settings
) -> None:
    definitions = all_tables()
    assert plan_lake(catalog, database) == [
        TableChange(t.identifier(database), Outcome.CREATED) for t in definitions
    ]
    assert not catalog.namespace_exists(database)  # a plan changes nothing

    assert init_lake(catalog, database) == [
        TableChange(t.identifier(database), Outcome.CREATED) for t in definitions
    ]

    glue = aws_client("glue", k2_settings)
    for definition in definitions:
        table = catalog.load_table(definition.identifier(database))
        schema, wanted = table.schema(), definition.iceberg_schema()
        assert [(f.name, f.field_type, f.required, f.doc) for f in schema.fields] == [
            (f.name, f.field_type, f.required, f.doc) for f in wanted.fields
        ]
        assert schema.identifier_field_names() == set(definition.identifier_fields)
        assert [
            (schema.find_column_name(f.source_id), str(f.transform), f.name)
            for f in table.spec().fields
        ] == [(p.source, str(p.transform), p.name) for p in definition.partitions]
        assert [schema.find_column_name(f.source_id) for f in table.sort_order().fields] == [
            key.source for key in definition.sort_order
        ]
        properties = definition.iceberg_properties()
        properties.pop("format-version")
        assert properties.items() <= table.properties.items()
        assert table.format_version == 2
        # Athena and the Glue console show the column docs.
        glue_table = glue.get_table(DatabaseName=database, Name=definition.name)["Table"]
        assert [
            (c["Name"], c["Type"], c.get("Comment"))
            for c in glue_table["StorageDescriptor"]["Columns"]
        ] == [(c["Name"], c["Type"], c["Comment"]) for c in definition.glue_columns()]

    gold = catalog.load_table(gold_trades_table().identifier(database))
    assert gold.properties["write.merge.mode"] == "merge-on-read"

    locations = {t.name: _metadata_location(catalog, t.identifier(database)) for t in definitions}
    assert init_lake(catalog, database) == [
        TableChange(t.identifier(database), Outcome.UNCHANGED) for t in definitions
    ]
    assert locations == {
        t.name: _metadata_location(catalog, t.identifier(database)) for t in definitions
    }


def test_compatible_changes_evolve_the_table_and_earlier_data_still_reads(
    catalog: GlueCatalog, database: str
) -> None:
    identifier = PRICES.identifier(database)
    init_lake(catalog, database, [PRICES])
    _append(catalog, identifier, [ROW])

    evolved = replace(
        PRICES,
        columns=(
            *PRICES.columns[:2],
            Column("side", StringType(), False, "taker side, new in version 2"),  # new, mid-way
            PRICES.columns[2],
            replace(PRICES.columns[3], type=LongType(), required=False),  # widened, relaxed
            replace(PRICES.columns[4], doc="the venue, documented better"),
        ),
        partitions=(*PRICES.partitions, Partition("venue", IdentityTransform())),
        sort_order=(SortKey("symbol"), SortKey("ts", descending=True)),
        properties={"write.target-file-size-bytes": "2097152"},
        doc="prices, version 2",
    )
    planned = plan_lake(catalog, database, [evolved])
    assert [change.outcome for change in planned] == [Outcome.EVOLVED]
    assert catalog.load_table(identifier).schema().find_field("size").field_type == IntegerType()

    (change,) = init_lake(catalog, database, [evolved])
    assert change == planned[0]
    assert change.changes == (
        "add column side (optional string)",
        "widen column size: int -> long",
        "make column size optional",
        "update doc of column venue",
        "reorder columns to the definition",
        "partition by identity(symbol), identity(venue) from now on",
        "sort by symbol, ts desc",
        "set properties comment, write.target-file-size-bytes",
    )

    table = catalog.load_table(identifier)
    assert [(f.name, f.field_type, f.required, f.doc) for f in table.schema().fields] == [
        (c.name, c.type, c.required, c.doc) for c in evolved.columns
    ]
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [
        ("symbol", "identity"),
        ("venue", "identity"),
    ]
    assert [(f.direction, f.null_order) for f in table.sort_order().fields] == [
        (SortDirection.ASC, NullOrder.NULLS_FIRST),
        (SortDirection.DESC, NullOrder.NULLS_LAST),
    ]
    assert table.properties["comment"] == "prices, version 2"
    assert table.properties["write.target-file-size-bytes"] == "2097152"

    later = {**ROW, "ts": datetime(2026, 1, 3, tzinfo=UTC), "side": "BUY", "size": 2**40}
    _append(catalog, identifier, [later])
    assert _rows(catalog, identifier) == [{**ROW, "side": None}, later]  # old rows read null

    assert init_lake(catalog, database, [evolved]) == [TableChange(identifier, Outcome.UNCHANGED)]


@pytest.mark.parametrize(
    ("column", "problem", "columns"),
    [
        (
            "size",
            "type int cannot change to string",
            (*PRICES.columns[:3], replace(PRICES.columns[3], type=StringType()), PRICES.columns[4]),
        ),
        (
            "price",
            "type decimal(38, 18) cannot change to decimal(38, 10)",
            (
                *PRICES.columns[:2],
                replace(PRICES.columns[2], type=DecimalType(38, 10)),
                *PRICES.columns[3:],
            ),
        ),
        (
            "fee",
            "new required column",
            (*PRICES.columns, Column("fee", DecimalType(38, 18), True, "a fee")),
        ),
        ("venue", "not in the definition", PRICES.columns[:4]),
        (
            "venue",
            "optional in the table but required",
            (*PRICES.columns[:4], replace(PRICES.columns[4], required=True)),
        ),
    ],
)
def test_incompatible_changes_are_refused_and_nothing_is_applied(
    catalog: GlueCatalog,
    database: str,
    column: str,
    problem: str,
    columns: tuple[Column, ...],
) -> None:
    identifier = PRICES.identifier(database)
    init_lake(catalog, database, [PRICES])
    _append(catalog, identifier, [ROW])
    before = _metadata_location(catalog, identifier)

    changed = replace(PRICES, columns=columns, doc="a doc change that must not be applied")
    newcomer = replace(PRICES, name="newcomer")  # would be created, were the run compatible
    for run in (plan_lake, init_lake):
        with pytest.raises(IncompatibleTableChange, match=re.escape(problem)) as refused:
            run(catalog, database, [newcomer, changed])
        assert (refused.value.table, refused.value.column) == (identifier, column)
        assert identifier in str(refused.value)

    assert _metadata_location(catalog, identifier) == before
    assert catalog.load_table(identifier).properties["comment"] == PRICES.doc
    assert not catalog.table_exists(newcomer.identifier(database))
    assert _rows(catalog, identifier) == [ROW]


def test_every_problem_of_a_run_is_reported_at_once(catalog: GlueCatalog, database: str) -> None:
    init_lake(catalog, database, [PRICES])
    changed = replace(
        PRICES,
        columns=(
            *PRICES.columns[:3],
            replace(PRICES.columns[3], type=StringType()),
            Column("fee", StringType(), True, "a fee"),
        ),
    )
    with pytest.raises(IncompatibleTableChange) as refused:
        init_lake(catalog, database, [changed])
    assert sorted(item.column or "" for item in refused.value.incompatibilities) == [
        "fee",
        "size",
        "venue",
    ]


def test_a_non_iceberg_table_in_the_way_is_refused(
    catalog: GlueCatalog, database: str, k2_settings: K2Settings
) -> None:
    catalog.create_namespace(database)
    aws_client("glue", k2_settings).create_table(
        DatabaseName=database,
        TableInput={
            "Name": PRICES.name,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "csv"},
        },
    )
    with pytest.raises(IncompatibleTableChange, match="not an Iceberg table") as refused:
        init_lake(catalog, database, [PRICES])
    assert (refused.value.table, refused.value.column) == (PRICES.identifier(database), None)


def test_tables_spark_creates_are_the_tables_init_lake_creates(
    spark: SparkSession, catalog: GlueCatalog, database: str
) -> None:
    """The Spark statements and init_lake agree: a gold table made by Spark needs no change, and
    Spark writes to and reads a table init_lake made."""
    gold = gold_trades_table()
    catalog.create_namespace(database)
    for statement in gold.spark_statements(database):
        spark.sql(statement)
    assert init_lake(catalog, database, [gold]) == [
        TableChange(gold.identifier(database), Outcome.UNCHANGED)
    ]

    init_lake(catalog, database, [PRICES])
    target = PRICES.spark_identifier(database)
    spark.sql(
        "SELECT 'BTCUSD' AS symbol, TIMESTAMP '2026-01-02 03:04:05.678901' AS ts, "
        "104250.123456789012345678BD AS price, 3 AS size, 'kraken' AS venue"
    ).writeTo(target).append()
    _append(catalog, PRICES.identifier(database), [{**ROW, "symbol": "ETHUSD"}])
    spark.catalog.refreshTable(target)  # Spark caches the table's metadata; pyiceberg moved it
    read = spark.table(target).select("symbol", "price").collect()
    assert sorted((row["symbol"], row["price"]) for row in read) == [
        ("BTCUSD", ROW["price"]),
        ("ETHUSD", ROW["price"]),
    ]
