"""Response row models derived from the lake's table definitions (a column is typed once).

Every field is optional because a caller may select fields; decimals are documented as exact
strings, which is how :mod:`k2.api.responses` writes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from pyiceberg.types import (
    DecimalType,
    IcebergType,
    IntegerType,
    LongType,
    TimestampType,
    TimestamptzType,
)

from k2.query.fields import QueryableTable

ExactDecimal = Annotated[
    str,
    Field(
        pattern=r"^-?[0-9]+(\.[0-9]+)?$",
        examples=["65000.12"],
        json_schema_extra={"format": "decimal"},
    ),
]


def _python_type(iceberg_type: IcebergType) -> Any:
    if isinstance(iceberg_type, DecimalType):
        return ExactDecimal
    if isinstance(iceberg_type, IntegerType | LongType):
        return int
    if isinstance(iceberg_type, TimestamptzType | TimestampType):
        return datetime
    return str


def row_model(table: QueryableTable, name: str) -> type[BaseModel]:
    fields: dict[str, Any] = {
        column.name: (_python_type(column.type) | None, Field(None, description=column.doc))
        for column in table.definition.columns
    }
    model: type[BaseModel] = create_model(
        name, __config__=ConfigDict(extra="forbid"), __doc__=table.definition.doc, **fields
    )
    return model
