"""The Athena named queries: valid Trino SQL over the real table definitions, and right answers.

Athena is not available in a unit test, so each query is checked twice: statically (sqlglot parses
it as Trino and every table and column it reads must exist in ``k2.lake.tables``), and by running
it on DuckDB tables built from the same definitions (via their Arrow schemas), with expected
values computed here in Python from the rows the test inserted.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from pyiceberg.types import (
    BinaryType,
    DecimalType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestamptzType,
)
from sqlglot import exp
from sqlglot.errors import OptimizeError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from k2.domain.markets import DataType, Exchange
from k2.lake.table_definition import TableDefinition
from k2.lake.tables import all_tables
from k2.query.named_queries import NamedQuery, named_queries
from tests.query.table_rows import filled_row

pytestmark = pytest.mark.unit

DATABASE = "k2_test"
EXCHANGES = (Exchange.BINANCE, Exchange.KRAKEN)
TABLES: dict[str, TableDefinition] = {table.name: table for table in all_tables()}

_TRINO_TYPES: dict[type[IcebergType], str] = {
    StringType: "VARCHAR",
    BinaryType: "VARBINARY",
    IntegerType: "INTEGER",
    LongType: "BIGINT",
    TimestamptzType: "TIMESTAMP(6) WITH TIME ZONE",
}


def _trino_type(iceberg_type: IcebergType) -> str:
    """The type Athena shows for an Iceberg column (only the kinds K2 tables use)."""
    if isinstance(iceberg_type, DecimalType):
        return f"DECIMAL({iceberg_type.precision}, {iceberg_type.scale})"
    return _TRINO_TYPES[type(iceberg_type)]


def _sqlglot_schema(database: str) -> dict[str, object]:
    return {
        database: {
            table.name: {column.name: _trino_type(column.type) for column in table.columns}
            for table in TABLES.values()
        }
    }


def _queries(
    database: str = DATABASE, exchanges: Sequence[Exchange] = EXCHANGES
) -> dict[str, NamedQuery]:
    return {query.name: query for query in named_queries(database, exchanges)}


def _parse(sql: str) -> exp.Expr:
    statements = sqlglot.parse(sql, read="trino")
    assert len(statements) == 1 and statements[0] is not None, "one statement per named query"
    return statements[0]


# --- static checks ---------------------------------------------------------------------------


def _tables_read(expression: exp.Expr) -> set[tuple[str, str]]:
    """(database, table) of every real table the query reads; CTE references are not tables."""
    ctes = {cte.alias for cte in expression.find_all(exp.CTE)}
    return {
        (table.db, table.name)
        for table in expression.find_all(exp.Table)
        if table.db or table.name not in ctes
    }


def _outputs(expression: exp.Expr) -> list[str]:
    return expression.named_selects if isinstance(expression, exp.Query) else []


@dataclass(frozen=True)
class ColumnCheck:
    reads: dict[str, set[str]]  # real table -> the columns the query reads from it
    problems: list[str]


def _check_columns(expression: exp.Expr, database: str) -> ColumnCheck:
    """Every column reference resolved through sqlglot's scopes (``qualify`` first, which
    raises on a column no source has): one read from a real table must be a column of its
    definition, one read from a CTE or subquery one of its outputs, and an unqualified one an
    output alias (``ORDER BY day``)."""
    qualified = qualify(
        expression.copy(),
        schema=_sqlglot_schema(database),
        dialect="trino",
        validate_qualify_columns=True,
    )
    reads: dict[str, set[str]] = defaultdict(set)
    problems: list[str] = []
    for scope in traverse_scope(qualified):
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table):
                definition = TABLES.get(source.name)
                if source.db != database or definition is None:
                    problems.append(f"{column.sql()}: {source.sql()} is not a K2 table")
                elif column.name not in {c.name for c in definition.columns}:
                    problems.append(f"{column.sql()}: no such column in {source.name}")
                else:
                    reads[source.name].add(column.name)
            elif isinstance(source, Scope):
                if column.name not in _outputs(source.expression):
                    problems.append(f"{column.sql()}: not an output of {column.table}")
            elif column.name not in _outputs(scope.expression):
                problems.append(f"{column.sql()}: resolves to nothing")
    return ColumnCheck(dict(reads), problems)


def test_names_are_distinct_slugs_and_each_query_is_documented() -> None:
    queries = named_queries(DATABASE, EXCHANGES)
    names = [query.name for query in queries]
    assert len(names) == len(set(names)) == 4
    assert all(name.replace("-", "").isalpha() and name.islower() for name in names)
    assert all(query.description.strip() for query in queries)


@pytest.mark.parametrize("name", sorted(_queries()))
def test_query_parses_as_trino_and_reads_only_k2_tables_and_columns(name: str) -> None:
    expression = _parse(_queries()[name].sql)
    tables = _tables_read(expression)
    assert tables, "a named query reads at least one table"
    assert {db for db, _ in tables} == {DATABASE}
    assert {table for _, table in tables} <= TABLES.keys()
    check = _check_columns(expression, DATABASE)
    assert check.problems == []
    assert check.reads.keys() == {table for _, table in tables}  # each table's columns checked


def test_database_and_exchanges_are_filled_in() -> None:
    """The DLQ rate's bronze side spans exactly the configured exchanges' bronze tables."""
    dlq = _parse(_queries("k2_prod", [Exchange.KRAKEN])["dlq-rate-by-reason"].sql)
    assert _tables_read(dlq) == {
        ("k2_prod", "bronze_kraken_trades"),
        ("k2_prod", "bronze_kraken_quotes"),
        ("k2_prod", "silver_dlq"),
    }
    check = _check_columns(dlq, "k2_prod")
    assert check.problems == []
    assert check.reads == {
        "bronze_kraken_trades": {"kafka_timestamp"},
        "bronze_kraken_quotes": {"kafka_timestamp"},
        "silver_dlq": {"exchange", "kafka_timestamp", "reason_class"},
    }


def test_column_check_is_not_vacuous() -> None:
    """A misspelt column, one from the wrong table, or a CTE output that does not exist is
    reported: otherwise the checks above would prove nothing."""
    sql = _queries()["dlq-rate-by-reason"].sql
    with pytest.raises(OptimizeError):
        _check_columns(_parse(sql.replace("reason_class", "reason_klass")), DATABASE)
    with pytest.raises(OptimizeError):  # silver_dlq has no ingested_at (bronze does)
        wrong = sql.replace(
            "date_trunc('hour', kafka_timestamp) AS hour, reason_class",
            "date_trunc('hour', ingested_at) AS hour, reason_class",
        )
        _check_columns(_parse(wrong), DATABASE)
    with pytest.raises(OptimizeError):
        _check_columns(_parse(sql.replace("r.records", "r.record_count")), DATABASE)
    bad_table = _parse(sql.replace('"silver_dlq"', '"silver_dead_letters"'))
    assert not _tables_read(bad_table) <= {(DATABASE, name) for name in TABLES}


# --- running the queries ---------------------------------------------------------------------


@dataclass(frozen=True)
class Trade:
    exchange: str
    symbol: str
    trade_id: int
    timestamp: datetime
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True)
class DeadLetter:
    exchange: str
    reason_class: str
    reason: str
    kafka_timestamp: datetime  # when the record reached Kafka (silver detects it later)


@dataclass(frozen=True)
class Lake:
    """The rows the test inserted, the time they are relative to, and the DuckDB holding them."""

    now: datetime
    trades: list[Trade]
    bronze: dict[str, list[datetime]]  # bronze table -> Kafka timestamps of its records
    dead_letters: list[DeadLetter]
    connection: duckdb.DuckDBPyConnection

    def run(self, name: str) -> list[dict[str, Any]]:
        """The named query, transpiled from Trino to DuckDB, on the test tables."""
        (sql,) = sqlglot.transpile(_queries()[name].sql, read="trino", write="duckdb")
        cursor = self.connection.execute(sql)
        columns = [description[0] for description in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _create_tables(
    connection: duckdb.DuckDBPyConnection, rows: dict[str, list[dict[str, Any]]]
) -> None:
    """Every K2 table in schema ``k2_test``, typed from its definition's Arrow schema."""
    connection.execute(f'CREATE SCHEMA "{DATABASE}"')
    for definition in TABLES.values():
        schema = definition.iceberg_schema().as_arrow()
        data = [filled_row(definition, row) for row in rows.get(definition.name, [])]
        arrow = pa.Table.from_pylist(data, schema=schema)
        connection.register("staged", arrow)
        connection.execute(f'CREATE TABLE "{DATABASE}"."{definition.name}" AS FROM staged')
        connection.unregister("staged")


def _trades(now: datetime) -> list[Trade]:
    """Two symbols per exchange, on two UTC days (now-50h and the last 3 hours are always
    different days), plus one trade older than the VWAP's 7 days. In the last 24 hours BTCUSDT
    has ids 101, 102, 105 (two missing) and Kraken BTCUSD 501, 510 (eight missing); 96 -> 101
    and 500 -> 501 cross the 24-hour window and are not reported. PEPEUSDT sizes exceed 1e10
    and Kraken values have 10 decimals: what a DECIMAL(18, 8) cast would break or round."""
    d = Decimal
    binance, kraken = str(Exchange.BINANCE), str(Exchange.KRAKEN)
    ago = [now - timedelta(hours=hours) for hours in (50, 49.5, 3, 2, 1)]
    return [
        Trade(binance, "BTCUSDT", 90, now - timedelta(days=8), d("1.00000000"), d("1.00000000")),
        Trade(binance, "BTCUSDT", 95, ago[0], d("64000.10000000"), d("0.50000000")),
        Trade(binance, "BTCUSDT", 96, ago[1], d("64010.20000000"), d("0.25000000")),
        Trade(binance, "BTCUSDT", 101, ago[2], d("65000.01000000"), d("0.00120000")),
        Trade(binance, "BTCUSDT", 102, ago[3], d("65010.99000000"), d("1.30000000")),
        Trade(binance, "BTCUSDT", 105, ago[4], d("64990.50000000"), d("0.07000000")),
        Trade(binance, "PEPEUSDT", 7, ago[2], d("0.00001234"), d("25000000000.00000000")),
        Trade(binance, "PEPEUSDT", 8, ago[3], d("0.00001236"), d("12345678901.00000000")),
        Trade(
            kraken, "BTCUSD", 500, ago[0] + timedelta(minutes=1), d("63999.9"), d("0.1234567891")
        ),
        Trade(kraken, "BTCUSD", 501, ago[2], d("64990.1"), d("0.0000000123")),
        Trade(kraken, "BTCUSD", 510, ago[4] + timedelta(minutes=1), d("65001.7"), d("2.5")),
        Trade(kraken, "DOGEUSD", 41, ago[2], d("0.1234567891"), d("1000")),
        Trade(kraken, "DOGEUSD", 42, ago[3], d("0.2"), d("1000.0000000001")),
    ]


def _bronze(now: datetime) -> dict[str, list[datetime]]:
    """Records reaching bronze in two hours (H1 = the hour of now-3h, H2 = of now-2h), on three
    of the four tables, plus one older than the query's 24 hours."""
    h1 = (now - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    h2 = h1 + timedelta(hours=1)
    minutes = [timedelta(minutes=m) for m in range(1, 60, 7)]
    return {
        "bronze_binance_trades": [h1 + m for m in minutes[:5]] + [h2 + m for m in minutes[:3]],
        "bronze_binance_quotes": [h1 + minutes[7], now - timedelta(hours=30)],
        "bronze_kraken_trades": [h1 + m for m in minutes[:8]],
        "bronze_kraken_quotes": [],
    }


def _dead_letters(now: datetime) -> list[DeadLetter]:
    """Two reason classes for Binance in H1, one in H2, one for Kraken in H1, one for Kraken in
    H2 (which received nothing: received and rate are NULL), and one too old to count."""
    h1 = (now - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
    h2 = h1 + timedelta(hours=1)
    binance, kraken = str(Exchange.BINANCE), str(Exchange.KRAKEN)
    return [
        DeadLetter(binance, "decode", "unknown_schema_version", h1 + timedelta(minutes=5)),
        DeadLetter(binance, "validation", "decimal_out_of_range", h1 + timedelta(minutes=6)),
        DeadLetter(binance, "validation", "non_positive_price", h1 + timedelta(minutes=40)),
        DeadLetter(binance, "validation", "decimal_out_of_range", h2 + timedelta(minutes=2)),
        DeadLetter(kraken, "schema", "missing_field", h1 + timedelta(minutes=9)),
        DeadLetter(kraken, "decode", "unknown_schema_version", h2 + timedelta(minutes=3)),
        DeadLetter(binance, "decode", "unknown_schema_version", now - timedelta(hours=26)),
    ]


@pytest.fixture
def lake() -> Iterator[Lake]:
    now = datetime.now(UTC).replace(microsecond=0)
    trades, bronze, dead_letters = _trades(now), _bronze(now), _dead_letters(now)
    rows: dict[str, list[dict[str, Any]]] = {
        "gold_crypto_trades": [
            {
                "exchange": t.exchange,
                "symbol": t.symbol,
                "trade_id": t.trade_id,
                "timestamp": t.timestamp,
                "price": t.price,
                "quantity": t.quantity,
            }
            for t in trades
        ],
        **{
            table: [
                {"offset": offset, "kafka_timestamp": at} for offset, at in enumerate(timestamps)
            ]
            for table, timestamps in bronze.items()
        },
        "silver_dlq": [
            {
                "exchange": dl.exchange,
                "data_type": str(DataType.TRADES),
                "reason_class": dl.reason_class,
                "reason": dl.reason,
                "kafka_timestamp": dl.kafka_timestamp,
                "detected_at": dl.kafka_timestamp + timedelta(minutes=70),  # a late silver run
            }
            for dl in dead_letters
        ],
    }
    connection = duckdb.connect()
    # Athena's session zone is UTC: day and hour buckets are UTC ones.
    connection.execute("SET TimeZone = 'UTC'")
    _create_tables(connection, rows)
    yield Lake(now, trades, bronze, dead_letters, connection)
    connection.close()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def test_daily_vwap_by_symbol(lake: Lake) -> None:
    groups: dict[tuple[date, str, str], list[Trade]] = defaultdict(list)
    for trade in lake.trades:
        if trade.timestamp >= lake.now - timedelta(days=7):
            groups[(trade.timestamp.date(), trade.exchange, trade.symbol)].append(trade)
    expected: list[dict[str, Any]] = [
        {
            "day": _midnight(day),
            "exchange": exchange,
            "symbol": symbol,
            "vwap": sum(t.price * t.quantity for t in group) / sum(t.quantity for t in group),
            "volume": sum(t.quantity for t in group),
            "trades": len(group),
        }
        for (day, exchange, symbol), group in groups.items()
    ]
    expected.sort(key=lambda row: (row["exchange"], row["symbol"]))
    expected.sort(key=lambda row: row["day"], reverse=True)
    assert len({row["day"] for row in expected}) >= 2  # the data spans two or more UTC days

    actual = lake.run("daily-vwap-by-symbol")

    assert [{k: v for k, v in row.items() if k != "vwap"} for row in actual] == [
        {k: v for k, v in row.items() if k != "vwap"} for row in expected
    ]
    # Athena divides DECIMAL(38, 20) by DECIMAL(38, 18) exactly (scale 20); DuckDB divides
    # decimals in DOUBLE, so here the quotient can only be compared to double precision.
    for got, want in zip(actual, expected, strict=True):
        assert math.isclose(got["vwap"], want["vwap"], rel_tol=1e-14), (got, want)


def test_trade_id_gaps(lake: Lake) -> None:
    window = lake.now - timedelta(days=1)
    by_symbol: dict[tuple[str, str], list[Trade]] = defaultdict(list)
    for trade in lake.trades:
        if trade.timestamp >= window:
            by_symbol[(trade.exchange, trade.symbol)].append(trade)
    expected: list[dict[str, Any]] = []
    for (exchange, symbol), trades in by_symbol.items():
        ordered = sorted(trades, key=lambda t: t.trade_id)
        for previous, current in pairwise(ordered):
            if current.trade_id - previous.trade_id > 1:
                expected.append(
                    {
                        "exchange": exchange,
                        "symbol": symbol,
                        "previous_trade_id": previous.trade_id,
                        "trade_id": current.trade_id,
                        "missing_trades": current.trade_id - previous.trade_id - 1,
                        "previous_timestamp": previous.timestamp,
                        "timestamp": current.timestamp,
                    }
                )
    expected.sort(key=lambda row: (-row["missing_trades"], row["exchange"], row["symbol"]))

    actual = lake.run("trade-id-gaps")

    assert actual == expected
    assert [
        (r["symbol"], r["previous_trade_id"], r["trade_id"], r["missing_trades"]) for r in actual
    ] == [
        ("BTCUSD", 501, 510, 8),
        ("BTCUSDT", 102, 105, 2),
    ]


def test_freshness(lake: Lake) -> None:
    newest: dict[tuple[str, str], datetime] = {}
    for trade in lake.trades:
        key = (trade.exchange, trade.symbol)
        newest[key] = max(newest.get(key, trade.timestamp), trade.timestamp)

    actual = lake.run("freshness")

    expected_order = sorted(newest, key=lambda key: newest[key])  # oldest first: age DESC
    assert [(row["exchange"], row["symbol"]) for row in actual] == expected_order
    for row in actual:
        assert row["newest_trade"] == newest[(row["exchange"], row["symbol"])]
        age = (lake.now - row["newest_trade"]).total_seconds()
        # current_timestamp is read when the query runs, a moment after ``now``.
        assert age <= row["age_seconds"] <= age + 30, row


def test_dlq_rate_by_reason(lake: Lake) -> None:
    window = lake.now - timedelta(days=1)
    received: dict[tuple[datetime, str], int] = defaultdict(int)
    for table, timestamps in lake.bronze.items():
        exchange = table.split("_")[1]
        for at in timestamps:
            if at >= window:
                received[(_hour(at), exchange)] += 1
    dead: dict[tuple[datetime, str, str], int] = defaultdict(int)
    for letter in lake.dead_letters:
        if letter.kafka_timestamp >= window:
            dead[(_hour(letter.kafka_timestamp), letter.exchange, letter.reason_class)] += 1
    expected: list[dict[str, Any]] = []
    for (hour, exchange, reason_class), count in dead.items():
        intake = received.get((hour, exchange))
        expected.append(
            {
                "hour": hour,
                "exchange": exchange,
                "reason_class": reason_class,
                "dead_lettered": count,
                "received": intake,
                "dlq_rate": Decimal(count) / Decimal(intake) if intake else None,
            }
        )
    # ORDER BY hour DESC, dlq_rate DESC; Trino and DuckDB both put NULLs last.
    expected.sort(key=lambda row: -(row["dlq_rate"] if row["dlq_rate"] is not None else -1))
    expected.sort(key=lambda row: row["hour"], reverse=True)
    assert any(row["received"] is None for row in expected)  # a DLQ hour without intake

    actual = lake.run("dlq-rate-by-reason")

    strip = ("dlq_rate",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in actual] == [
        {k: v for k, v in r.items() if k not in strip} for r in expected
    ]
    for got, want in zip(actual, expected, strict=True):
        if want["dlq_rate"] is None:
            assert got["dlq_rate"] is None
        else:
            assert math.isclose(got["dlq_rate"], want["dlq_rate"], rel_tol=1e-15), (got, want)
