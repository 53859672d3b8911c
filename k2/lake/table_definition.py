"""One definition per Iceberg table, from which every other view of it is derived.

The definition is written in pyiceberg's types; the pyiceberg schema, partition spec and sort
order, the Spark DDL and the Glue column list are computed from it, so a column is typed in
exactly one place. ``k2.lake.lake_init`` creates and evolves the tables from the same definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import NullOrder, SortDirection, SortField, SortOrder
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
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
)

CATALOG_NAME = "glue_catalog"  # the Spark catalog name, in Glue jobs and locally alike

# Every K2 table: format v2, zstd Parquet, and enough commit retries for concurrent writers
# (streams and maintenance) to resolve Glue optimistic-lock conflicts.
BASE_PROPERTIES = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    "write.target-file-size-bytes": str(128 * 1024 * 1024),
    "commit.retry.num-retries": "10",
    "commit.retry.min-wait-ms": "50",
    # Streams and MERGE jobs commit every few seconds: keep the metadata log bounded. (Snapshots,
    # which time travel uses, are expired by table maintenance, not by this.)
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "100",
    # What snapshot expiry keeps (k2/lake/maintenance_policy.py reads these too), so that even a
    # hand-run expire_snapshots never strands a streaming reader's checkpoint: 3 days, and the
    # newest 100 whatever their age.
    "history.expire.max-snapshot-age-ms": str(3 * 24 * 3600 * 1000),
    "history.expire.min-snapshots-to-keep": "100",
}

# Tables written by MERGE (gold): write delete files instead of rewriting data files, so a MERGE
# that touches a few rows of a day costs a few small files; compaction folds them in later.
MERGE_ON_READ_PROPERTIES = {
    "write.merge.mode": "merge-on-read",
    "write.update.mode": "merge-on-read",
    "write.delete.mode": "merge-on-read",
}

FORMAT_VERSION_PROPERTY = "format-version"  # creates the table's format version; not kept
COMMENT_PROPERTY = "comment"  # the table doc: Spark's COMMENT, Glue's table Description


@dataclass(frozen=True)
class Column:
    name: str
    type: IcebergType
    required: bool
    doc: str


@dataclass(frozen=True)
class Partition:
    source: str
    transform: Transform[Any, Any]

    @property
    def name(self) -> str:
        """Iceberg's default partition field name, which Spark DDL also produces."""
        if isinstance(self.transform, IdentityTransform):
            return self.source
        if isinstance(self.transform, BucketTransform):
            return f"{self.source}_bucket"
        if isinstance(self.transform, TruncateTransform):
            return f"{self.source}_trunc"
        return f"{self.source}_{self.transform}"  # day, hour, month, year


@dataclass(frozen=True)
class SortKey:
    """One column of a table's write order. Nulls sort first ascending and last descending,
    the default of Iceberg and Spark alike."""

    source: str
    descending: bool = False

    @property
    def direction(self) -> SortDirection:
        return SortDirection.DESC if self.descending else SortDirection.ASC

    @property
    def null_order(self) -> NullOrder:
        return NullOrder.NULLS_LAST if self.descending else NullOrder.NULLS_FIRST


@dataclass(frozen=True)
class TableDefinition:
    name: str
    columns: tuple[Column, ...]
    partitions: tuple[Partition, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)
    doc: str = ""
    sort_order: tuple[SortKey, ...] = ()
    identifier_fields: tuple[str, ...] = ()
    """The row key (Iceberg identifier fields): the columns a MERGE into the table matches on."""

    def __post_init__(self) -> None:
        names = [column.name for column in self.columns]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.name}: duplicate column names")
        by_name = {column.name: column for column in self.columns}
        referenced = [
            *(part.source for part in self.partitions),
            *(key.source for key in self.sort_order),
            *self.identifier_fields,
        ]
        if unknown := [name for name in referenced if name not in by_name]:
            raise ValueError(f"{self.name}: no such column {unknown}")
        if optional := [name for name in self.identifier_fields if not by_name[name].required]:
            raise ValueError(f"{self.name}: identifier fields must be required: {optional}")
        if undocumented := [column.name for column in self.columns if not column.doc.strip()]:
            raise ValueError(f"{self.name}: columns without a doc: {undocumented}")

    @property
    def all_properties(self) -> dict[str, str]:
        return {**BASE_PROPERTIES, **self.properties}

    def iceberg_properties(self) -> dict[str, str]:
        """What pyiceberg creates the table with: ``all_properties`` plus the doc as ``comment``
        (where Spark's ``COMMENT`` puts it, and what Iceberg's Glue catalog shows as the table
        description)."""
        return {**self.all_properties, **({COMMENT_PROPERTY: self.doc} if self.doc else {})}

    @property
    def format_version(self) -> int:
        return int(self.all_properties.get(FORMAT_VERSION_PROPERTY, "2"))

    def iceberg_schema(self) -> Schema:
        source_ids = self._source_ids()
        return Schema(
            *(
                NestedField(
                    index, column.name, column.type, required=column.required, doc=column.doc
                )
                for index, column in enumerate(self.columns, start=1)
            ),
            identifier_field_ids=[source_ids[name] for name in self.identifier_fields],
        )

    def partition_spec(self) -> PartitionSpec:
        source_ids = self._source_ids()
        return PartitionSpec(
            *(
                PartitionField(source_ids[part.source], 1000 + index, part.transform, part.name)
                for index, part in enumerate(self.partitions)
            )
        )

    def iceberg_sort_order(self) -> SortOrder:
        source_ids = self._source_ids()
        return SortOrder(
            *(
                SortField(
                    source_id=source_ids[key.source],
                    transform=IdentityTransform(),
                    direction=key.direction,
                    null_order=key.null_order,
                )
                for key in self.sort_order
            )
        )

    def _source_ids(self) -> dict[str, int]:
        return {column.name: index for index, column in enumerate(self.columns, start=1)}

    def identifier(self, database: str) -> str:
        return f"{database}.{self.name}"

    def spark_identifier(self, database: str) -> str:
        return f"{CATALOG_NAME}.{database}.{self.name}"

    def spark_ddl(self, database: str) -> str:
        """``CREATE TABLE IF NOT EXISTS`` for Spark SQL with the Iceberg extensions."""
        columns = ",\n  ".join(
            f"`{c.name}` {spark_type(c.type)}{' NOT NULL' if c.required else ''}"
            f" COMMENT '{_escape(c.doc)}'"
            for c in self.columns
        )
        partitions = ", ".join(_spark_partition(part) for part in self.partitions)
        properties = ",\n  ".join(f"'{k}' = '{v}'" for k, v in self.all_properties.items())
        return (
            f"CREATE TABLE IF NOT EXISTS {self.spark_identifier(database)} (\n  {columns}\n)\n"
            f"USING iceberg\n"
            + (f"PARTITIONED BY ({partitions})\n" if partitions else "")
            + f"COMMENT '{_escape(self.doc)}'\n"
            f"TBLPROPERTIES (\n  {properties}\n)"
        )

    def spark_sort_ddl(self, database: str) -> str | None:
        """``ALTER TABLE ... WRITE ORDERED BY`` (Iceberg SQL extensions), or None if unsorted."""
        if not self.sort_order:
            return None
        keys = ", ".join(
            f"`{key.source}` {key.direction.value.upper()} "
            f"{'NULLS FIRST' if key.null_order is NullOrder.NULLS_FIRST else 'NULLS LAST'}"
            for key in self.sort_order
        )
        return f"ALTER TABLE {self.spark_identifier(database)} WRITE ORDERED BY {keys}"

    def spark_identifier_fields_ddl(self, database: str) -> str | None:
        """``ALTER TABLE ... SET IDENTIFIER FIELDS`` (Iceberg SQL extensions), or None."""
        if not self.identifier_fields:
            return None
        fields = ", ".join(f"`{name}`" for name in self.identifier_fields)
        return f"ALTER TABLE {self.spark_identifier(database)} SET IDENTIFIER FIELDS {fields}"

    def spark_statements(self, database: str) -> list[str]:
        """Every statement that makes the table in Spark, in order: create, then write order
        and identifier fields (which ``CREATE TABLE`` cannot express). Each is idempotent."""
        statements = [
            self.spark_ddl(database),
            self.spark_sort_ddl(database),
            self.spark_identifier_fields_ddl(database),
        ]
        return [statement for statement in statements if statement is not None]

    def glue_columns(self) -> list[dict[str, str]]:
        """The Glue Data Catalog column list (what Athena and the console show)."""
        return [{"Name": c.name, "Type": hive_type(c.type), "Comment": c.doc} for c in self.columns]


_SPARK_TYPES: dict[type[IcebergType], str] = {
    BinaryType: "BINARY",
    BooleanType: "BOOLEAN",
    DateType: "DATE",
    DoubleType: "DOUBLE",
    IntegerType: "INT",
    LongType: "BIGINT",
    StringType: "STRING",
    TimestampType: "TIMESTAMP_NTZ",
    TimestamptzType: "TIMESTAMP",
}

_HIVE_TYPES: dict[type[IcebergType], str] = {
    **_SPARK_TYPES,
    BinaryType: "binary",
    BooleanType: "boolean",
    DateType: "date",
    DoubleType: "double",
    IntegerType: "int",
    LongType: "bigint",
    StringType: "string",
    TimestampType: "timestamp",
    TimestamptzType: "timestamp",
}


def spark_type(iceberg_type: IcebergType) -> str:
    if isinstance(iceberg_type, DecimalType):
        return f"DECIMAL({iceberg_type.precision},{iceberg_type.scale})"
    return _SPARK_TYPES[type(iceberg_type)]


def hive_type(iceberg_type: IcebergType) -> str:
    if isinstance(iceberg_type, DecimalType):
        return f"decimal({iceberg_type.precision},{iceberg_type.scale})"
    return _HIVE_TYPES[type(iceberg_type)]


_SPARK_TIME_TRANSFORMS: dict[type[Transform[Any, Any]], str] = {
    YearTransform: "years",
    MonthTransform: "months",
    DayTransform: "days",
    HourTransform: "hours",
}


def _spark_partition(partition: Partition) -> str:
    transform, column = partition.transform, f"`{partition.source}`"
    if isinstance(transform, IdentityTransform):
        return column
    if isinstance(transform, BucketTransform):
        return f"bucket({transform.num_buckets}, {column})"
    if isinstance(transform, TruncateTransform):
        return f"truncate({transform.width}, {column})"
    if function := _SPARK_TIME_TRANSFORMS.get(type(transform)):
        return f"{function}({column})"
    raise ValueError(f"no Spark DDL for partition transform {transform}")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
