"""One definition per Iceberg table, from which every other view of it is derived.

The definition is written in pyiceberg's types; the Spark DDL and the Glue column list are
computed from it, so a column is typed in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import DayTransform, IdentityTransform, Transform
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
}


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
        return f"{self.source}_{self.transform}"


@dataclass(frozen=True)
class TableDefinition:
    name: str
    columns: tuple[Column, ...]
    partitions: tuple[Partition, ...] = ()
    properties: dict[str, str] = field(default_factory=dict)
    doc: str = ""

    @property
    def all_properties(self) -> dict[str, str]:
        return {**BASE_PROPERTIES, **self.properties}

    def iceberg_schema(self) -> Schema:
        return Schema(
            *(
                NestedField(
                    index, column.name, column.type, required=column.required, doc=column.doc
                )
                for index, column in enumerate(self.columns, start=1)
            )
        )

    def partition_spec(self) -> PartitionSpec:
        source_ids = {column.name: index for index, column in enumerate(self.columns, start=1)}
        return PartitionSpec(
            *(
                PartitionField(source_ids[part.source], 1000 + index, part.transform, part.name)
                for index, part in enumerate(self.partitions)
            )
        )

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


def _spark_partition(partition: Partition) -> str:
    if isinstance(partition.transform, DayTransform):
        return f"days(`{partition.source}`)"
    if isinstance(partition.transform, IdentityTransform):
        return f"`{partition.source}`"
    raise ValueError(f"no Spark DDL for partition transform {partition.transform}")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")
