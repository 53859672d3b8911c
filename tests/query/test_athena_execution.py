"""The local Athena engine against DuckDB run directly, on a small lake in the test local cloud.

The lake lives in a Glue database of this module's own. Its tables have the real K2 schemas
(gold trades, the four bronze tables, the DLQ) but no time partitions: pyiceberg cannot append to
a day-partitioned table without the optional pyiceberg-core, and Spark is not needed to test an
engine that only reads. Gold keeps its identity partition on ``symbol``, so files are pruned the
way real reads are.

Ground truth is DuckDB run directly over the rows the test generated (never read back through
the engine): the named queries transpiled once by sqlglot as in test_named_queries.py, and for
the ad-hoc queries DuckDB SQL written by hand next to each Athena query.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import sqlglot
from pyiceberg.catalog import Catalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
)

from k2.domain.markets import DataType, Exchange
from k2.lake.catalog import glue_catalog
from k2.lake.lake_init import init_lake
from k2.lake.table_definition import Partition, TableDefinition
from k2.lake.tables import bronze_table, gold_trades_table, silver_dlq_table
from k2.query.athena_execution import (
    AthenaColumn,
    AthenaQueryCancelled,
    AthenaQueryError,
    AthenaResult,
    run_athena_query,
)
from k2.query.named_queries import named_queries
from k2.settings import K2Settings
from tests.query.table_rows import filled_row

pytestmark = pytest.mark.integration

DATABASE = "k2_athena_engine_test"
OTHER_DATABASE = "k2_athena_engine_other"
EXCHANGES = (Exchange.BINANCE, Exchange.KRAKEN)
MARKETS = [("binance", "BTCUSDT"), ("binance", "ETHUSDT"), ("kraken", "BTCUSD")]
TYPES_TABLE = "athena_types"


def _unpartitioned(definition: TableDefinition) -> TableDefinition:
    """The definition without time partitions (identity ones kept)."""
    kept = tuple(p for p in definition.partitions if isinstance(p.transform, IdentityTransform))
    return dataclasses.replace(definition, partitions=kept, sort_order=())


TABLES: dict[str, TableDefinition] = {
    table.name: _unpartitioned(table)
    for table in [
        gold_trades_table(),
        silver_dlq_table(),
        *(bronze_table(e, d) for e in EXCHANGES for d in DataType),
    ]
}
assert TABLES["gold_crypto_trades"].partitions == (Partition("symbol", IdentityTransform()),)

TYPES_SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "flag", BooleanType(), required=False),
    NestedField(3, "ratio", DoubleType(), required=False),
    NestedField(4, "amount", DecimalType(20, 10), required=False),
    NestedField(5, "label", StringType(), required=False),
    NestedField(6, "at", TimestamptzType(), required=False),
    NestedField(7, "local_at", TimestampType(), required=False),
    NestedField(8, "day", DateType(), required=False),
    NestedField(9, "small", IntegerType(), required=False),
    NestedField(10, "payload", BinaryType(), required=False),
)

TYPES_ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "flag": True,
        "ratio": 0.1,
        "amount": Decimal("100.0000000000"),
        "label": 'say "hi", twice',
        "at": datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        "local_at": datetime(2024, 1, 2, 3, 4, 5, 120000),
        "day": date(2024, 1, 2),
        "small": -7,
        "payload": b"\x00\xff\x10",
    },
    {
        "id": 2,
        "flag": False,
        "ratio": 12345678.5,
        "amount": Decimal("-0.0000000001"),
        "label": "",
        "at": datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        "local_at": datetime(1999, 12, 31, 23, 59, 59),
        "day": date(1999, 12, 31),
        "small": 2147483647,
        "payload": b"",
    },
    {
        "id": 3,
        "flag": None,
        "ratio": None,
        "amount": None,
        "label": None,
        "at": None,
        "local_at": None,
        "day": None,
        "small": None,
        "payload": None,
    },
]


@dataclass(frozen=True)
class Lake:
    catalog: Catalog
    now: datetime
    rows: dict[str, list[dict[str, Any]]]
    first_batch: list[dict[str, Any]]
    """Gold rows of the first append (snapshot ``first_snapshot``)."""
    first_snapshot: int
    first_commit_ms: int
    connection: duckdb.DuckDBPyConnection
    """Plain DuckDB holding the generated rows as ``<DATABASE>.<table>``: the ground truth."""

    def athena(self, sql: str, **kwargs: Any) -> AthenaResult:
        return run_athena_query(sql, database=DATABASE, catalog=self.catalog, **kwargs)

    def duckdb(self, sql: str) -> list[tuple[Any, ...]]:
        return self.connection.execute(sql).fetchall()


def _trades(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    rows = []
    next_id = {market: 1000 for market in MARKETS}
    for index in range(300):
        exchange, symbol = rng.choice(MARKETS)
        trade_id = next_id[(exchange, symbol)] + (rng.choice([2, 3, 5]) if index % 37 == 5 else 0)
        next_id[(exchange, symbol)] = trade_id + 1
        if index % 50 == 7:
            at = now - timedelta(days=9, minutes=index)  # outside the 7-day VWAP window
        else:
            at = now - timedelta(seconds=rng.randrange(60, 3 * 86400), microseconds=index)
        price = Decimal(rng.randint(10**6, 10**12)).scaleb(-8)
        quantity = Decimal(rng.randint(1, 10**12)).scaleb(-10)
        rows.append(
            {
                "message_id": f"{exchange}|{symbol}|{trade_id}",
                "exchange": exchange,
                "symbol": symbol,
                "exchange_symbol": symbol,
                "base_asset": symbol[:3],
                "quote_asset": symbol[3:],
                "trade_id": trade_id,
                "timestamp": at,
                "price": price,
                "quantity": quantity,
                "side": "BUY" if trade_id % 2 else "SELL",
                "gold_updated_at": now,
            }
        )
    return rows


def _bronze(rng: random.Random, now: datetime, table: str) -> list[dict[str, Any]]:
    count = {"quotes": 9, "trades": 25}[table.rsplit("_", 1)[1]]
    return [
        {"offset": offset, "kafka_timestamp": now - timedelta(minutes=rng.randrange(1, 30 * 60))}
        for offset in range(count)
    ]


def _dead_letters(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    reasons = [("decode", "unknown_schema_version"), ("validation", "decimal_out_of_range")]
    rows = []
    for index in range(14):
        reason_class, reason = rng.choice(reasons)
        at = now - timedelta(minutes=rng.randrange(1, 26 * 60))
        rows.append(
            {
                "exchange": str(rng.choice(EXCHANGES)),
                "data_type": "trades",
                "reason_class": reason_class,
                "reason": reason,
                "message": f"record {index}",
                "kafka_timestamp": at,
                "detected_at": at + timedelta(minutes=3),
            }
        )
    return rows


def _arrow(schema: Schema, rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema.as_arrow())


def _append(table: Table, rows: list[dict[str, Any]]) -> None:
    table.append(_arrow(table.schema(), rows))


@pytest.fixture(scope="module")
def lake(k2_settings: K2Settings) -> Iterator[Lake]:
    settings = k2_settings.model_copy(update={"glue_database": DATABASE})
    catalog = glue_catalog(settings)
    init_lake(catalog, DATABASE, list(TABLES.values()))
    catalog.create_table((DATABASE, TYPES_TABLE), schema=TYPES_SCHEMA)
    catalog.create_namespace_if_not_exists(OTHER_DATABASE)
    other = catalog.create_table((OTHER_DATABASE, TYPES_TABLE), schema=TYPES_SCHEMA)
    _append(other, TYPES_ROWS[:2])
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(8)
    definition = TABLES["gold_crypto_trades"]
    trades = [filled_row(definition, row) for row in _trades(rng, now)]
    rows: dict[str, list[dict[str, Any]]] = {"gold_crypto_trades": trades}
    for name in TABLES:
        if name.startswith("bronze_"):
            rows[name] = [filled_row(TABLES[name], row) for row in _bronze(rng, now, name)]
    rows["silver_dlq"] = [filled_row(TABLES["silver_dlq"], r) for r in _dead_letters(rng, now)]
    rows[TYPES_TABLE] = TYPES_ROWS

    gold = catalog.load_table((DATABASE, "gold_crypto_trades"))
    first_batch, second_batch = trades[:180], trades[180:]
    _append(gold, first_batch)
    first = gold.current_snapshot()
    assert first is not None
    _append(gold, second_batch)
    second = gold.current_snapshot()
    assert second is not None and second.timestamp_ms > first.timestamp_ms
    for name, table_rows in rows.items():
        if name != "gold_crypto_trades" and table_rows:
            _append(catalog.load_table((DATABASE, name)), table_rows)

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")  # Athena's session zone
    connection.execute(f'CREATE SCHEMA "{DATABASE}"')
    schemas = {name: d.iceberg_schema() for name, d in TABLES.items()} | {TYPES_TABLE: TYPES_SCHEMA}
    for name, table_rows in rows.items():
        connection.register("incoming", _arrow(schemas[name], table_rows))
        connection.execute(f'CREATE TABLE "{DATABASE}"."{name}" AS SELECT * FROM incoming')
        connection.unregister("incoming")
    connection.register("incoming", _arrow(schemas["gold_crypto_trades"], first_batch))
    connection.execute("CREATE TABLE first_batch AS SELECT * FROM incoming")
    connection.unregister("incoming")
    yield Lake(catalog, now, rows, first_batch, first.snapshot_id, first.timestamp_ms, connection)
    connection.close()


# --- comparing results -----------------------------------------------------------------------


def _value(text: str | None, column: AthenaColumn) -> Any:
    """An Athena value text back to Python, by its column type."""
    if text is None:
        return None
    kind = column.type
    if kind in {"bigint", "integer", "smallint", "tinyint"}:
        return int(text)
    if kind == "decimal":
        value = Decimal(text)
        assert value.as_tuple().exponent == -column.scale, (text, column)
        return value
    if kind in {"double", "real"}:
        return float(text)
    if kind == "boolean":
        return {"true": True, "false": False}[text]
    if kind == "timestamp with time zone":
        assert text.endswith(" UTC"), text
        return datetime.strptime(text[:-4], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    if kind == "timestamp":
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f")
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "varbinary":
        return bytes.fromhex(text.replace(" ", ""))
    assert kind == "varchar", column
    return text


def _typed(result: AthenaResult) -> list[tuple[Any, ...]]:
    return [
        tuple(_value(text, column) for text, column in zip(row, result.columns, strict=True))
        for row in result.rows
    ]


def _canonical(row: Sequence[Any], floats: set[int]) -> tuple[Any, ...]:
    """Columns the ground truth has as DOUBLE (DuckDB divides decimals in DOUBLE, the engine
    exactly) as floats rounded to 9 significant digits: a sort key; compared closely below."""
    return tuple(
        float(f"{float(v):.9g}") if i in floats and v is not None else v for i, v in enumerate(row)
    )


def _same_rows(
    actual: list[tuple[Any, ...]], expected: list[tuple[Any, ...]], ordered: bool
) -> None:
    assert len(actual) == len(expected), (actual, expected)
    floats = {i for row in expected for i, v in enumerate(row) if isinstance(v, float)}
    if not ordered:
        actual = sorted(actual, key=lambda row: repr(_canonical(row, floats)))
        expected = sorted(expected, key=lambda row: repr(_canonical(row, floats)))
    for got, want in zip(actual, expected, strict=True):
        assert len(got) == len(want)
        for index, (a, b) in enumerate(zip(got, want, strict=True)):
            if index in floats and a is not None and b is not None:
                assert math.isclose(float(a), b, rel_tol=1e-12), (got, want)
            else:
                assert a == b, (got, want)


# --- the named queries -----------------------------------------------------------------------


def _named(name: str) -> str:
    (query,) = [q for q in named_queries(DATABASE, EXCHANGES) if q.name == name]
    return query.sql


def _direct(lake: Lake, athena_sql: str) -> list[tuple[Any, ...]]:
    (sql,) = sqlglot.transpile(athena_sql, read="trino", write="duckdb")
    return lake.duckdb(sql)


def test_named_query_dlq_rate_matches_duckdb(lake: Lake) -> None:
    """ORDER BY hour DESC, dlq_rate DESC leaves ties: compared as a set, and the engine's order
    checked against the ORDER BY (NULL rates last, as in Trino)."""
    sql = _named("dlq-rate-by-reason")
    expected = _direct(lake, sql)
    assert expected, "the lake has dead letters in the last day"
    actual = _typed(lake.athena(sql))
    _same_rows(actual, expected, ordered=False)
    keys = [(-row[0].timestamp(), row[5] is None, -(row[5] or 0)) for row in actual]
    assert keys == sorted(keys)


def test_named_query_daily_vwap_matches_duckdb_and_is_exact(lake: Lake) -> None:
    """DuckDB run directly divides the decimals in DOUBLE; the engine divides exactly as Trino
    does (DECIMAL(38, 20), rounded half up), checked against Python's decimals."""
    sql = _named("daily-vwap-by-symbol")
    actual = _typed(lake.athena(sql))
    expected = _direct(lake, sql)
    assert len(expected) >= 6
    assert [row[:3] + row[4:] for row in actual] == [row[:3] + row[4:] for row in expected]
    for got, want in zip(actual, expected, strict=True):
        assert math.isclose(float(got[3]), want[3], rel_tol=1e-12)
    window = lake.now - timedelta(days=7)
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for trade in lake.rows["gold_crypto_trades"]:
        if trade["timestamp"] >= window:
            day = trade["timestamp"].replace(hour=0, minute=0, second=0, microsecond=0)
            groups.setdefault((day, trade["exchange"], trade["symbol"]), []).append(trade)
    exact = {}
    with localcontext() as context:
        context.prec = 100
        for key, trades in groups.items():
            notional = sum(t["price"] * t["quantity"] for t in trades)
            vwap = notional / sum(t["quantity"] for t in trades)
            exact[key] = vwap.quantize(Decimal(1).scaleb(-20), ROUND_HALF_UP)
    assert {row[:3]: row[3] for row in actual} == exact


def test_named_query_trade_id_gaps_matches_duckdb(lake: Lake) -> None:
    """Gaps of equal size in one symbol tie in the ORDER BY: compared as a set, and the
    engine's order checked against the ORDER BY itself."""
    sql = _named("trade-id-gaps")
    actual = _typed(lake.athena(sql))
    expected = _direct(lake, sql)
    assert len(expected) >= 3
    _same_rows(actual, expected, ordered=False)
    keys = [(-row[4], row[0], row[1]) for row in actual]
    assert keys == sorted(keys)


def test_named_query_freshness_matches_duckdb(lake: Lake) -> None:
    """Age is measured against each run's own current_timestamp: compared within a minute."""
    sql = _named("freshness")
    actual = _typed(lake.athena(sql))
    expected = _direct(lake, sql)
    assert [row[:3] for row in actual] == [row[:3] for row in expected]
    for got, want in zip(actual, expected, strict=True):
        assert 0 <= want[3] - got[3] <= 60 or 0 <= got[3] - want[3] <= 60


def test_named_query_columns_are_athena_types(lake: Lake) -> None:
    result = lake.athena(_named("daily-vwap-by-symbol"))
    assert [(c.name, c.type) for c in result.columns] == [
        ("day", "timestamp with time zone"),
        ("exchange", "varchar"),
        ("symbol", "varchar"),
        ("vwap", "decimal"),
        ("volume", "decimal"),
        ("trades", "bigint"),
    ]
    vwap, volume = result.columns[3:5]
    assert (vwap.precision, vwap.scale) == (38, 20)
    assert (volume.precision, volume.scale) == (38, 18)


# --- ad-hoc queries --------------------------------------------------------------------------

T = f'"{DATABASE}"."gold_crypto_trades"'
DLQ = f'"{DATABASE}"."silver_dlq"'
BT = f'"{DATABASE}"."bronze_binance_trades"'
KT = f'"{DATABASE}"."bronze_kraken_trades"'

# (id, Athena SQL, DuckDB SQL written by hand, ordered)
AD_HOC: list[tuple[str, str, str, bool]] = [
    ("count", "SELECT count(*) FROM gold_crypto_trades", f"SELECT count(*) FROM {T}", True),
    (
        "group-by",
        "SELECT exchange, symbol, count(*) AS n, sum(quantity) AS volume, min(price), max(price) "
        "FROM gold_crypto_trades GROUP BY exchange, symbol ORDER BY exchange, symbol",
        f"SELECT exchange, symbol, count(*), sum(quantity), min(price), max(price) FROM {T} "
        "GROUP BY exchange, symbol ORDER BY exchange, symbol",
        True,
    ),
    (
        "having",
        "SELECT symbol, count(*) FROM gold_crypto_trades GROUP BY symbol HAVING count(*) > 99",
        f"SELECT symbol, count(*) FROM {T} GROUP BY symbol HAVING count(*) > 99",
        False,
    ),
    (
        "join-cte",
        """WITH t AS (SELECT exchange, count(*) AS trades FROM gold_crypto_trades GROUP BY 1),
                d AS (SELECT exchange, count(*) AS dead FROM silver_dlq GROUP BY 1)
           SELECT t.exchange, t.trades, d.dead FROM t JOIN d ON t.exchange = d.exchange""",
        f"""SELECT t.exchange, t.n, d.n FROM (SELECT exchange, count(*) n FROM {T} GROUP BY 1) t
            JOIN (SELECT exchange, count(*) n FROM {DLQ} GROUP BY 1) d USING (exchange)""",
        False,
    ),
    (
        "left-join-nulls",
        """SELECT m.symbol, q.n FROM (SELECT DISTINCT symbol FROM gold_crypto_trades) m
           LEFT JOIN (SELECT symbol, count(*) AS n FROM gold_crypto_trades
                      WHERE exchange = 'kraken' GROUP BY symbol) q ON q.symbol = m.symbol""",
        f"""SELECT m.symbol, (SELECT count(*) FROM {T} x WHERE x.symbol = m.symbol
                                 AND x.exchange = 'kraken' HAVING count(*) > 0)
            FROM (SELECT DISTINCT symbol FROM {T}) m""",
        False,
    ),
    (
        "self-join",
        """SELECT a.symbol, count(*) FROM gold_crypto_trades a
           JOIN gold_crypto_trades b ON a.symbol = b.symbol AND b.trade_id = a.trade_id + 1
           GROUP BY a.symbol""",
        f"""SELECT a.symbol, count(*) FROM {T} a, {T} b
            WHERE a.symbol = b.symbol AND b.trade_id = a.trade_id + 1 GROUP BY a.symbol""",
        False,
    ),
    (
        "row-number",
        """SELECT symbol, trade_id FROM (
             SELECT symbol, trade_id,
                    row_number() OVER (PARTITION BY symbol ORDER BY trade_id DESC) AS rn
             FROM gold_crypto_trades) WHERE rn <= 3 ORDER BY symbol, trade_id""",
        f"""SELECT symbol, trade_id FROM {T}
            QUALIFY row_number() OVER (PARTITION BY symbol ORDER BY trade_id DESC) <= 3
            ORDER BY symbol, trade_id""",
        True,
    ),
    (
        "lag",
        """SELECT symbol, trade_id, price - lag(price) OVER (PARTITION BY symbol ORDER BY trade_id)
           AS change FROM gold_crypto_trades WHERE exchange = 'binance'""",
        f"""SELECT symbol, trade_id, price - lag(price) OVER (PARTITION BY symbol ORDER BY trade_id)
            FROM {T} WHERE exchange = 'binance'""",
        False,
    ),
    (
        "running-sum",
        """SELECT trade_id, sum(quantity) OVER (ORDER BY trade_id
             ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
           FROM gold_crypto_trades WHERE symbol = 'ETHUSDT' ORDER BY trade_id""",
        f"""SELECT trade_id, sum(quantity) OVER (ORDER BY trade_id ROWS UNBOUNDED PRECEDING)
            FROM {T} WHERE symbol = 'ETHUSDT' ORDER BY trade_id""",
        True,
    ),
    (
        "rank-avg-window",
        """SELECT symbol, trade_id, rank() OVER (PARTITION BY symbol ORDER BY price DESC) AS r,
                  count(*) OVER (PARTITION BY exchange) AS per_exchange
           FROM gold_crypto_trades""",
        f"""SELECT symbol, trade_id, rank() OVER (PARTITION BY symbol ORDER BY price DESC),
                   count(*) OVER (PARTITION BY exchange) FROM {T}""",
        False,
    ),
    (
        "date-trunc",
        """SELECT date_trunc('hour', "timestamp") AS hour, count(*) FROM gold_crypto_trades
           GROUP BY 1 ORDER BY 1 DESC LIMIT 10""",
        f"""SELECT time_bucket(INTERVAL 1 HOUR, "timestamp"), count(*) FROM {T}
            GROUP BY 1 ORDER BY 1 DESC LIMIT 10""",
        True,
    ),
    (
        "date-format",
        """SELECT date_format("timestamp", '%Y-%m-%d') AS day, count(*) FROM gold_crypto_trades
           GROUP BY 1""",
        f"""SELECT strftime("timestamp", '%Y-%m-%d'), count(*) FROM {T} GROUP BY 1""",
        False,
    ),
    (
        "unixtime",
        """SELECT to_unixtime(min("timestamp")), from_unixtime(1700000000),
                  from_unixtime(to_unixtime(max("timestamp"))) FROM gold_crypto_trades""",
        f"""SELECT epoch(min("timestamp")), TIMESTAMPTZ '2023-11-14 22:13:20+00',
                   max("timestamp") FROM {T}""",
        True,
    ),
    (
        "date-diff",
        """SELECT symbol, date_diff('hour', min("timestamp"), max("timestamp"))
           FROM gold_crypto_trades GROUP BY symbol""",
        f"""SELECT symbol, (epoch(max("timestamp")) - epoch(min("timestamp")))::BIGINT // 3600
            FROM {T} GROUP BY symbol""",
        False,
    ),
    (
        "cast-decimal",
        """SELECT trade_id, CAST(price AS DECIMAL(20, 2)), CAST(quantity AS DOUBLE)
           FROM gold_crypto_trades WHERE symbol = 'BTCUSD'""",
        f"""SELECT trade_id, price::DECIMAL(20, 2), quantity::DOUBLE FROM {T}
            WHERE symbol = 'BTCUSD'""",
        False,
    ),
    (
        "try-cast-regexp",
        """SELECT symbol, TRY_CAST(symbol AS BIGINT), regexp_like(symbol, '^BTC'),
                  TRY_CAST('42' AS INTEGER) FROM gold_crypto_trades GROUP BY symbol""",
        f"""SELECT DISTINCT symbol, NULL::BIGINT, symbol LIKE 'BTC%', 42 FROM {T}""",
        False,
    ),
    (
        "approx-distinct",
        "SELECT approx_distinct(symbol), count(DISTINCT exchange) FROM gold_crypto_trades",
        f"SELECT count(DISTINCT symbol), count(DISTINCT exchange) FROM {T}",
        True,
    ),
    (
        "union-all",
        """SELECT 'binance' AS exchange, count(*) FROM bronze_binance_trades
           UNION ALL SELECT 'kraken', count(*) FROM bronze_kraken_trades""",
        f"SELECT 'binance', count(*) FROM {BT} UNION ALL SELECT 'kraken', count(*) FROM {KT}",
        False,
    ),
    (
        "in-subquery",
        """SELECT count(*) FROM gold_crypto_trades WHERE exchange IN
           (SELECT exchange FROM silver_dlq WHERE reason_class = 'decode')""",
        f"""SELECT count(*) FROM {T} WHERE exchange IN
            (SELECT exchange FROM {DLQ} WHERE reason_class = 'decode')""",
        True,
    ),
    (
        "exists",
        """SELECT d.reason, count(*) FROM silver_dlq d WHERE EXISTS
           (SELECT 1 FROM gold_crypto_trades t WHERE t.exchange = d.exchange) GROUP BY 1""",
        f"""SELECT reason, count(*) FROM {DLQ} GROUP BY 1""",
        False,
    ),
    (
        "case-integer-division",
        """SELECT trade_id / 7, trade_id % 7,
                  CASE WHEN side = 'BUY' THEN 'b' ELSE 's' END FROM gold_crypto_trades""",
        f"""SELECT trade_id // 7, trade_id % 7, CASE WHEN side = 'BUY' THEN 'b' ELSE 's' END
            FROM {T}""",
        False,
    ),
    (
        "order-limit",
        """SELECT exchange, symbol, trade_id, price FROM gold_crypto_trades
           ORDER BY price DESC, trade_id LIMIT 5""",
        f"SELECT exchange, symbol, trade_id, price FROM {T} ORDER BY price DESC, trade_id LIMIT 5",
        True,
    ),
    (
        "strings",
        """SELECT DISTINCT lower(symbol), substr(symbol, 1, 3), concat(exchange, ':', symbol),
                  length(symbol), upper(base_asset) || '/' || quote_asset
           FROM gold_crypto_trades""",
        f"""SELECT DISTINCT lower(symbol), symbol[1:3], exchange || ':' || symbol,
                   length(symbol), upper(base_asset) || '/' || quote_asset FROM {T}""",
        False,
    ),
    (
        "qualified-names",
        f"""SELECT "{DATABASE}".gold_crypto_trades.symbol, count(*)
            FROM awsdatacatalog."{DATABASE}"."gold_crypto_trades" GROUP BY 1""",
        f"SELECT symbol, count(*) FROM {T} GROUP BY 1",
        False,
    ),
    (
        "decimal-division",
        """SELECT symbol, sum(CAST(price AS DECIMAL(20, 8)) * quantity) / sum(quantity),
                  avg(price) / 3
           FROM gold_crypto_trades WHERE quantity > 0.01 GROUP BY symbol""",
        f"""SELECT symbol, sum(price::DECIMAL(20, 8) * quantity) / sum(quantity), avg(price) / 3
            FROM {T} WHERE quantity > 0.01 GROUP BY symbol""",
        False,
    ),
    (
        "decimal-division-rows",
        """SELECT trade_id, price / quantity, price / 7, quantity / 0.5
           FROM gold_crypto_trades WHERE symbol = 'ETHUSDT'""",
        f"""SELECT trade_id, price / quantity, price / 7, quantity / 0.5 FROM {T}
            WHERE symbol = 'ETHUSDT'""",
        False,
    ),
    (
        "max-by",
        """SELECT symbol, max_by(price, trade_id), min_by(trade_id, "timestamp")
           FROM gold_crypto_trades GROUP BY symbol""",
        f"""SELECT symbol, arg_max(price, trade_id), arg_min(trade_id, "timestamp") FROM {T}
            GROUP BY symbol""",
        False,
    ),
    (
        "interval-filter",
        """SELECT count(*) FROM gold_crypto_trades
           WHERE "timestamp" >= current_timestamp - INTERVAL '1' DAY""",
        f"""SELECT count(*) FROM {T} WHERE "timestamp" >= now() - INTERVAL 1 DAY""",
        True,
    ),
    (
        "star",
        "SELECT * FROM athena_types",
        f'SELECT * FROM "{DATABASE}"."{TYPES_TABLE}"',
        False,
    ),
    (
        "values-unnest",
        """SELECT x, y FROM (VALUES (1, 'a'), (2, 'b')) AS v (x, y)
           CROSS JOIN UNNEST(ARRAY[10, 20]) AS u (z) WHERE z = 10""",
        "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) v(x, y)",
        False,
    ),
]


@pytest.mark.parametrize(
    ("athena_sql", "duckdb_sql", "ordered"),
    [case[1:] for case in AD_HOC],
    ids=[case[0] for case in AD_HOC],
)
def test_ad_hoc_query_matches_duckdb(
    lake: Lake, athena_sql: str, duckdb_sql: str, ordered: bool
) -> None:
    expected = lake.duckdb(duckdb_sql)
    assert expected
    _same_rows(_typed(lake.athena(athena_sql)), expected, ordered)


# --- time travel -----------------------------------------------------------------------------


def _instant(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, UTC)
    return f"TIMESTAMP '{moment.strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC'"


def test_version_as_of_reads_the_old_snapshot(lake: Lake) -> None:
    sql = (
        "SELECT symbol, count(*), sum(quantity) FROM gold_crypto_trades "
        f"FOR VERSION AS OF {lake.first_snapshot} GROUP BY symbol"
    )
    expected = lake.duckdb("SELECT symbol, count(*), sum(quantity) FROM first_batch GROUP BY 1")
    _same_rows(_typed(lake.athena(sql)), expected, ordered=False)
    assert sum(row[1] for row in expected) == len(lake.first_batch) < 300


def test_timestamp_as_of_reads_the_snapshot_current_then(lake: Lake) -> None:
    at_first = _instant(lake.first_commit_ms)
    sql = f"SELECT count(*) FROM gold_crypto_trades FOR TIMESTAMP AS OF {at_first}"
    assert lake.athena(sql).rows == [(str(len(lake.first_batch)),)]
    now = "SELECT count(*) FROM gold_crypto_trades FOR TIMESTAMP AS OF current_timestamp"
    assert lake.athena(now).rows == [("300",)]


def test_old_and_current_versions_in_one_query(lake: Lake) -> None:
    sql = f"""
        SELECT count(*) FROM gold_crypto_trades AS now
        WHERE NOT EXISTS (
          SELECT 1 FROM gold_crypto_trades FOR VERSION AS OF {lake.first_snapshot} AS old
          WHERE old.message_id = now.message_id)"""
    assert lake.athena(sql).rows == [(str(300 - len(lake.first_batch)),)]


def test_time_travel_to_before_the_first_snapshot_or_an_unknown_one_fails(lake: Lake) -> None:
    with pytest.raises(AthenaQueryError) as before:
        lake.athena(
            "SELECT * FROM gold_crypto_trades "
            "FOR TIMESTAMP AS OF TIMESTAMP '2000-01-01 00:00:00 UTC'"
        )
    assert before.value.error_name == "INVALID_ARGUMENTS"
    assert before.value.message.startswith("INVALID_ARGUMENTS: line 1:15: ")
    with pytest.raises(AthenaQueryError) as unknown:
        lake.athena("SELECT * FROM gold_crypto_trades FOR VERSION AS OF 1234567")
    assert unknown.value.error_name == "INVALID_ARGUMENTS"
    assert "1234567" in unknown.value.message


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "name", "error_type", "text"),
    [
        ("SELECT * FORM gold_crypto_trades", "SYNTAX_ERROR", 1006, "line 1:"),
        (
            "SELECT * FROM nope",
            "TABLE_NOT_FOUND",
            1110,
            f"line 1:15: Table 'awsdatacatalog.{DATABASE}.nope' does not exist",
        ),
        ("SELECT * FROM no_such_db.t", "SCHEMA_NOT_FOUND", 1301, "Schema 'no_such_db'"),
        (
            "SELECT symbol, nope FROM gold_crypto_trades",
            "COLUMN_NOT_FOUND",
            1006,
            "line 1:16: Column 'nope' cannot be resolved",
        ),
        (
            "INSERT INTO gold_crypto_trades SELECT * FROM gold_crypto_trades",
            "NOT_SUPPORTED",
            1202,
            "",
        ),
        ("CREATE TABLE x AS SELECT 1", "NOT_SUPPORTED", 1202, ""),
        ("DROP TABLE gold_crypto_trades", "NOT_SUPPORTED", 1202, ""),
        ("SELECT * FROM read_parquet('s3://k2-lake/x.parquet')", "FUNCTION_NOT_FOUND", 1303, ""),
        ("SELECT 1; SELECT 2", "SYNTAX_ERROR", 1006, "Only one sql statement is allowed"),
        ("SELECT sum(price) / 0 FROM gold_crypto_trades", "DIVISION_BY_ZERO", 1001, ""),
        (
            "SELECT CAST(symbol AS BIGINT) FROM gold_crypto_trades",
            "INVALID_CAST_ARGUMENT",
            1001,
            "",
        ),
        ("SELECT no_such_function(symbol) FROM gold_crypto_trades", "FUNCTION_NOT_FOUND", 1303, ""),
    ],
)
def test_errors_have_athena_shape(
    lake: Lake, sql: str, name: str, error_type: int, text: str
) -> None:
    with pytest.raises(AthenaQueryError) as caught:
        lake.athena(sql)
    error = caught.value
    assert (error.error_name, error.error_type, error.error_category) == (name, error_type, 2)
    assert error.message.startswith(f"{name}: ")
    assert text in error.message
    assert error.retryable is False


def test_the_lake_is_unchanged_by_refused_writes(lake: Lake) -> None:
    for sql in ["DELETE FROM gold_crypto_trades", "INSERT INTO gold_crypto_trades VALUES (1)"]:
        with pytest.raises(AthenaQueryError):
            lake.athena(sql)
    assert lake.athena("SELECT count(*) FROM gold_crypto_trades").rows == [("300",)]


def test_a_cancelled_query_raises_cancelled(lake: Lake) -> None:
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(AthenaQueryCancelled):
        lake.athena("SELECT count(*) FROM gold_crypto_trades", cancelled=cancelled)


def test_a_running_query_is_interrupted_when_cancelled(lake: Lake) -> None:
    """A four-way self join of 300 rows (8.1e9 combinations) runs far longer than the
    moment it takes to cancel it."""
    cancelled = threading.Event()
    timer = threading.Timer(0.5, cancelled.set)
    timer.start()
    try:
        with pytest.raises(AthenaQueryCancelled):
            lake.athena(
                "SELECT sum(a.trade_id * b.trade_id % 7 + c.trade_id - d.trade_id) "
                "FROM gold_crypto_trades a, gold_crypto_trades b, gold_crypto_trades c, "
                "gold_crypto_trades d",
                cancelled=cancelled,
            )
    finally:
        timer.cancel()
    assert cancelled.is_set()


def test_any_database_of_the_catalog_can_be_named(lake: Lake) -> None:
    """Unqualified names resolve in the query's database; other Glue databases by name."""
    sql = (
        f"SELECT (SELECT count(*) FROM {OTHER_DATABASE}.{TYPES_TABLE}), "
        f"(SELECT count(*) FROM {TYPES_TABLE})"
    )
    assert lake.athena(sql).rows == [("2", "3")]


# --- types, rendering and data scanned -------------------------------------------------------


def test_column_types_and_rendering_match_athena(lake: Lake) -> None:
    result = lake.athena(
        "SELECT id, flag, ratio, amount, label, at, local_at, day, small, payload, "
        "CAST(id AS DOUBLE) * 1e7 AS big, amount * 2 AS twice, amount / 3 AS third, "
        "amount / 0.3 AS by_decimal "
        "FROM athena_types ORDER BY id"
    )
    assert [(c.name, c.type, c.precision, c.scale) for c in result.columns] == [
        ("id", "bigint", 19, 0),
        ("flag", "boolean", 0, 0),
        ("ratio", "double", 17, 0),
        ("amount", "decimal", 20, 10),
        ("label", "varchar", 2147483647, 0),
        ("at", "timestamp with time zone", 3, 0),
        ("local_at", "timestamp", 3, 0),
        ("day", "date", 0, 0),
        ("small", "integer", 10, 0),
        ("payload", "varbinary", 1073741824, 0),
        ("big", "double", 17, 0),
        ("twice", "decimal", 30, 10),  # Trino: 2 is an INTEGER, a DECIMAL(10, 0)
        ("third", "decimal", 20, 10),  # Trino: precision p1 + s2 + max(0, s2 - s1)
        ("by_decimal", "decimal", 21, 10),
    ]
    assert result.rows == [
        (
            "1",
            "true",
            "0.1",
            "100.0000000000",
            'say "hi", twice',
            "2024-01-02 03:04:05.123456 UTC",
            "2024-01-02 03:04:05.120000",
            "2024-01-02",
            "-7",
            "00 ff 10",
            "1.0E7",
            "200.0000000000",
            "33.3333333333",
            "333.3333333333",
        ),
        (
            "2",
            "false",
            "1.23456785E7",
            "-0.0000000001",
            "",
            "1999-12-31 23:59:59.000000 UTC",
            "1999-12-31 23:59:59.000000",
            "1999-12-31",
            "2147483647",
            "",
            "2.0E7",
            "-0.0000000002",
            "0.0000000000",  # -0.0000000000333... rounds to zero, without a sign
            "-0.0000000003",  # -0.000000000333... rounds half up (away from zero)
        ),
        ("3", *[None] * 9, "3.0E7", None, None, None),
    ]


def test_unnamed_columns_and_sums_are_named_and_typed_like_trino(lake: Lake) -> None:
    result = lake.athena("SELECT 1, sum(trade_id), count(*) FROM gold_crypto_trades")
    assert [(c.name, c.type) for c in result.columns] == [
        ("_col0", "integer"),
        ("_col1", "bigint"),
        ("_col2", "bigint"),
    ]
    expected_sum = sum(row["trade_id"] for row in lake.rows["gold_crypto_trades"])
    assert result.rows == [("1", str(expected_sum), "300")]


def test_data_scanned_is_the_size_of_the_files_read(lake: Lake) -> None:
    gold = lake.catalog.load_table((DATABASE, "gold_crypto_trades"))
    files = gold.inspect.files().to_pylist()
    total = sum(f["file_size_in_bytes"] for f in files)
    assert lake.athena("SELECT count(*) FROM gold_crypto_trades").data_scanned_bytes == total
    first = gold.scan(snapshot_id=lake.first_snapshot).plan_files()
    first_total = sum(task.file.file_size_in_bytes for task in first)
    old = lake.athena(
        f"SELECT count(*) FROM gold_crypto_trades FOR VERSION AS OF {lake.first_snapshot}"
    )
    assert old.data_scanned_bytes == first_total < total
    assert lake.athena("SELECT 1").data_scanned_bytes == 0


def test_decimal_sums_stay_exact(lake: Lake) -> None:
    result = lake.athena("SELECT sum(quantity), sum(price * 1) FROM gold_crypto_trades")
    trades = lake.rows["gold_crypto_trades"]
    quantity, price = result.rows[0]
    assert Decimal(quantity or "") == sum(t["quantity"] for t in trades)
    assert Decimal(price or "") == sum(t["price"] for t in trades)
    assert math.isfinite(float(quantity or "0"))
