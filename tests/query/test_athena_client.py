"""Athena's text values typed back exactly, for Parquet output."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pytest

from k2.query.athena_client import ResultColumn, arrow_table

pytestmark = pytest.mark.unit


def test_every_athena_type_becomes_its_exact_arrow_value() -> None:
    columns = (
        ResultColumn("id", "bigint", 19),
        ResultColumn("n", "integer", 10),
        ResultColumn("price", "decimal", 38, 18),
        ResultColumn("ratio", "double", 17),
        ResultColumn("ok", "boolean"),
        ResultColumn("day", "date"),
        ResultColumn("at", "timestamp", 6),
        ResultColumn("at_utc", "timestamp with time zone", 3),
        ResultColumn("symbol", "varchar", 2147483647),
        ResultColumn("tags", "array"),
    )
    rows = [
        (
            "9007199254740993",  # beyond a double's exact range
            "-7",
            "12345678901234567890.123456789012345678",
            "0.1",
            "true",
            "2026-11-26",
            "2026-11-26 08:00:00.123456",
            "2026-11-26 08:00:00.123 UTC",
            "BTCUSDT",
            "[a, b]",
        ),
        (None,) * 10,
    ]
    table = arrow_table(columns, rows)
    assert table.schema.field("price").type == pa.decimal128(38, 18)
    assert table.schema.field("at_utc").type == pa.timestamp("us", tz="UTC")
    assert table.to_pylist() == [
        {
            "id": 9007199254740993,
            "n": -7,
            "price": Decimal("12345678901234567890.123456789012345678"),
            "ratio": 0.1,
            "ok": True,
            "day": date(2026, 11, 26),
            "at": datetime(2026, 11, 26, 8, 0, 0, 123456),
            "at_utc": datetime(2026, 11, 26, 8, 0, 0, 123000, tzinfo=UTC),
            "symbol": "BTCUSDT",
            "tags": "[a, b]",
        },
        dict.fromkeys(table.column_names),
    ]


def test_a_decimal_that_does_not_fit_its_type_is_refused_not_rounded() -> None:
    with pytest.raises(pa.ArrowInvalid):
        arrow_table((ResultColumn("q", "decimal", 10, 2),), [("1.005",)])
