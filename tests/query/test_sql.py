"""Statements and row filters: identifiers only from allow-lists, values only as parameters."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.expressions import AlwaysTrue, And, EqualTo, GreaterThanOrEqual, In, LessThan

from k2.query.errors import InvalidParameterError, UnknownFieldError
from k2.query.fields import BARS, QUOTES, TRADES, bars_for, for_data_type
from k2.query.filters import row_filter
from k2.query.params import TimeRange
from k2.query.scan import connect, execute
from k2.query.sql import Bound, select_rows

pytestmark = pytest.mark.unit


def test_allow_lists_come_from_the_table_definitions() -> None:
    assert TRADES.fields[:2] == ("message_id", "exchange") and "gold_updated_at" in TRADES.fields
    assert TRADES.select(["price", "price", "symbol"]) == ("price", "symbol")
    assert TRADES.select(["price"], always=["symbol"]) == ("price", "symbol")
    assert QUOTES.time_column == "ingestion_timestamp"
    assert bars_for("1H") is BARS[next(t for t in BARS if t.value == "1h")]
    assert for_data_type("Quotes") is QUOTES
    for bad in ("price; DROP", '"price"', "Price", ""):
        with pytest.raises(UnknownFieldError):
            TRADES.select([bad])
    with pytest.raises(InvalidParameterError):
        TRADES.select([])
    with pytest.raises(InvalidParameterError):
        bars_for("2m")


def test_row_filter_names_symbols_exchanges_and_the_time_column() -> None:
    assert row_filter(TRADES) == AlwaysTrue()
    assert row_filter(TRADES, symbols=["BTCUSDT"]) == EqualTo(term="symbol", literal="BTCUSDT")  # type: ignore[call-arg]
    built = row_filter(QUOTES, ["A", "B"], ["kraken"], TimeRange(5, 9))
    expected = And(
        In(term="symbol", literals={"A", "B"}),
        EqualTo(term="exchange", literal="kraken"),  # type: ignore[call-arg]
        GreaterThanOrEqual(term="ingestion_timestamp", literal=5),  # type: ignore[call-arg]
        LessThan(term="ingestion_timestamp", literal=9),  # type: ignore[call-arg]
    )
    assert built == expected


def test_values_are_parameters_and_keyset_pages_are_strictly_after() -> None:
    hostile = "x' OR '1'='1"
    statement = select_rows(
        TRADES, ("price", "symbol"), 5, [Bound("symbol", "=", hostile)], after=(1, "b", "c", 2)
    )
    assert hostile not in statement.sql and "x'" not in statement.sql
    assert statement.parameters["p0"] == hostile and statement.parameters["p5"] == 5
    with pytest.raises(UnknownFieldError):
        select_rows(TRADES, ("price",), 5, [Bound("1=1 OR price", ">=", 1)])

    rows = [
        (ts, ex, sym, tid) for ts in (1, 2) for ex in ("a", "b") for sym in ("X",) for tid in (1, 2)
    ]
    arrow = pa.table(
        {
            "timestamp": [r[0] for r in rows],
            "exchange": [r[1] for r in rows],
            "symbol": [r[2] for r in rows],
            "trade_id": [r[3] for r in rows],
            "price": pa.array([Decimal(i) for i in range(len(rows))], pa.decimal128(38, 18)),
        }
    )
    columns = ("timestamp", "exchange", "symbol", "trade_id")
    after = select_rows(TRADES, columns, 100, after=(1, "b", "X", 1))
    got = [tuple(r.values()) for r in execute(arrow, after.sql, after.parameters).to_pylist()]
    assert got == sorted(r for r in rows if r > (1, "b", "X", 1))
    newest = select_rows(TRADES, columns, 3, descending=True)
    got = [tuple(r.values()) for r in execute(arrow, newest.sql, newest.parameters).to_pylist()]
    assert got == sorted(rows, reverse=True)[:3]
    priced = select_rows(TRADES, ("price",), 100, [Bound("price", ">=", Decimal("6.5"))])
    assert len(execute(arrow, priced.sql, priced.parameters)) == 1


def test_duckdb_loads_no_extension_and_reads_no_file() -> None:
    connection = connect()
    with pytest.raises(duckdb.Error):
        connection.execute("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(duckdb.Error):
        connection.execute("INSTALL httpfs")
    with pytest.raises(duckdb.Error):
        connection.execute("SET enable_external_access = true")
