"""Full rows for K2 table definitions in tests that only care about a few columns."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pyiceberg.types import (
    BinaryType,
    DecimalType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestamptzType,
)

from k2.lake.table_definition import TableDefinition

_PLACEHOLDERS: dict[type[IcebergType], Any] = {
    StringType: "x",
    BinaryType: b"x",
    IntegerType: 0,
    LongType: 0,
    TimestamptzType: datetime(2020, 1, 1, tzinfo=UTC),
}


def placeholder(kind: IcebergType) -> Any:
    """A value of the column's type (only the kinds K2 tables use)."""
    return Decimal(0) if isinstance(kind, DecimalType) else _PLACEHOLDERS[type(kind)]


def filled_row(definition: TableDefinition, values: dict[str, Any]) -> dict[str, Any]:
    """``values``, and a placeholder of the right type in every other column."""
    row = {c.name: values.get(c.name, placeholder(c.type)) for c in definition.columns}
    assert values.keys() <= row.keys(), f"{definition.name}: unknown columns in the test rows"
    return row
