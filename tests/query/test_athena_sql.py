"""The local Athena's SQL front end, with no catalog or data: what is refused (and with which
Athena error), which tables and versions a query reads, and the DuckDB SQL it becomes.

Translations are checked by running the DuckDB SQL on small literal tables against values worked
out by hand (Trino semantics), not by comparing SQL text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from k2.query.athena_sql import (
    FUNCTION_NOT_FOUND_TYPE,
    QUERY_TYPE_NOT_SUPPORTED,
    SYNTAX_ERROR_TYPE,
    USER,
    AthenaQueryError,
    SnapshotVersion,
    TimestampVersion,
    parse_athena_query,
    to_duckdb,
    translate,
)

pytestmark = pytest.mark.unit

DB = "k2_lakehouse"


def _refusal(sql: str) -> AthenaQueryError:
    with pytest.raises(AthenaQueryError) as caught:
        parse_athena_query(sql, database=DB)
    assert caught.value.error_category == USER
    assert caught.value.message.startswith(f"{caught.value.error_name}: ")
    return caught.value


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t SELECT 1",
        "insert into k2_lakehouse.t values (1)",
        "CREATE TABLE x AS SELECT * FROM t",
        "CREATE TABLE x (a int)",
        "DROP TABLE t",
        "ALTER TABLE t ADD COLUMNS (c int)",
        "DELETE FROM t WHERE a = 1",
        "UPDATE t SET a = 1",
        "MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE",
        "MSCK REPAIR TABLE t",
        "SET SESSION query_max_run_time = '1h'",
        "UNLOAD (SELECT 1) TO 's3://bucket/x' WITH (format = 'PARQUET')",
        "VACUUM t",
        "OPTIMIZE t REWRITE DATA USING BIN_PACK",
        "COPY t TO 'x.csv'",
        "ATTACH 'x.db'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA version",
        "EXPLAIN SELECT 1",
        "SHOW TABLES",
        "DESCRIBE t",
        "  -- a comment first\n  insert into t select 1",
    ],
)
def test_statements_that_are_not_reads_are_not_supported(sql: str) -> None:
    error = _refusal(sql)
    assert error.error_name == "NOT_SUPPORTED"
    assert error.error_type == QUERY_TYPE_NOT_SUPPORTED
    assert "only SELECT queries are supported locally" in error.message


@pytest.mark.parametrize(
    ("sql", "function"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT * FROM read_parquet('s3://b/k.parquet')", "read_parquet"),
        ("SELECT * FROM read_csv_auto('x.csv')", "read_csv"),
        ("SELECT * FROM TABLE(read_json('x.json'))", "read_json"),
        ("SELECT read_text('/etc/hosts')", "read_text"),
        ("SELECT read_blob('/etc/hosts')", "read_blob"),
        ("SELECT current_setting('TimeZone')", "current_setting"),
        ("SELECT * FROM duckdb_settings()", "duckdb_settings"),
        ("SELECT * FROM query('SELECT 1')", "query"),
        ("SELECT getenv('HOME')", "getenv"),
        ("SELECT a FROM t WHERE a IN (SELECT x FROM parquet_scan('x'))", "parquet_scan"),
        ("SELECT * FROM sqlite_scan('x.db', 't')", "sqlite_scan"),
    ],
)
def test_duckdb_functions_that_reach_outside_are_not_registered(sql: str, function: str) -> None:
    error = _refusal(sql)
    assert error.error_name == "FUNCTION_NOT_FOUND"
    assert error.error_type == FUNCTION_NOT_FOUND_TYPE
    assert f"'{function}" in error.message
    assert "not registered" in error.message


def test_glob_is_refused() -> None:
    """Trino's grammar has no ``glob(...)`` call, so the parser already refuses it."""
    assert _refusal("SELECT * FROM glob('/tmp/*')").error_name == "SYNTAX_ERROR"


def test_two_statements_are_refused() -> None:
    error = _refusal("SELECT 1; SELECT 2")
    assert error.error_type == SYNTAX_ERROR_TYPE
    assert "Only one sql statement is allowed" in error.message
    _refusal("SELECT 1; DROP TABLE t")


def test_a_trailing_semicolon_is_one_statement() -> None:
    assert translate("SELECT 1;", database=DB) == 'SELECT 1 AS "_col0"'


@pytest.mark.parametrize(
    ("sql", "position"),
    [
        ("SELECT * FORM t", "line 1:15"),
        ("SELECT 1 +", "line 1:10"),
        ("SELECT a,\n  b FROM t WHERE (", "line 2:"),
        ("", "line 1:1"),
        ("   ", "line 1:1"),
    ],
)
def test_syntax_errors_name_the_position(sql: str, position: str) -> None:
    error = _refusal(sql)
    assert error.error_name == "SYNTAX_ERROR"
    assert error.error_type == SYNTAX_ERROR_TYPE
    assert error.message.startswith(f"SYNTAX_ERROR: {position}")


def test_another_catalog_is_not_reachable() -> None:
    error = _refusal("SELECT * FROM other_catalog.k2_lakehouse.t")
    assert error.error_name == "CATALOG_NOT_FOUND"
    assert "line 1:15" in error.message


# --- tables and time travel ------------------------------------------------------------------


def _tables(sql: str) -> set[tuple[str, str, Any]]:
    query = parse_athena_query(sql, database=DB)
    return {(r.database, r.table, r.version) for r in query.relations}


def test_table_references_resolve_against_the_query_database() -> None:
    assert _tables("SELECT * FROM gold_crypto_trades") == {(DB, "gold_crypto_trades", None)}
    assert _tables('SELECT * FROM "k2_prod"."Gold_Crypto_Trades"') == {
        ("k2_prod", "gold_crypto_trades", None)
    }
    assert _tables("SELECT * FROM AwsDataCatalog.k2_prod.t") == {("k2_prod", "t", None)}
    assert _tables('SELECT * FROM "awsdatacatalog"."k2_prod"."t" AS x') == {("k2_prod", "t", None)}


def test_cte_names_are_not_tables_and_each_table_version_is_one_relation() -> None:
    sql = """
        WITH recent AS (SELECT * FROM trades WHERE price > 1),
             other AS (SELECT * FROM k2_lakehouse.trades)
        SELECT * FROM recent
        JOIN other ON recent.id = other.id
        JOIN (SELECT * FROM quotes) q ON q.id = recent.id
        WHERE recent.id IN (SELECT id FROM trades)
    """
    query = parse_athena_query(sql, database=DB)
    assert {(r.database, r.table) for r in query.relations} == {(DB, "trades"), (DB, "quotes")}
    assert len({r.name for r in query.relations}) == 2


def test_time_travel_clauses_are_extracted_per_reference() -> None:
    sql = """
        SELECT * FROM t FOR VERSION AS OF 8744736658442914487 AS old
        JOIN t AS now ON old.id = now.id
        JOIN k2_other.t FOR TIMESTAMP AS OF TIMESTAMP '2024-05-01 10:00:00 UTC' AS earlier
          ON earlier.id = now.id
        JOIN t FOR VERSION AS OF 8744736658442914487 AS again ON again.id = now.id
    """
    query = parse_athena_query(sql, database=DB)
    versions = {(r.database, r.version) for r in query.relations}
    assert len(query.relations) == 3  # `t` at the same version twice is one relation
    assert (DB, SnapshotVersion(8744736658442914487)) in versions
    assert (DB, None) in versions
    (timestamp,) = [r.version for r in query.relations if isinstance(r.version, TimestampVersion)]
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    (instant,) = connection.execute(f"SELECT epoch_us({timestamp.duckdb_sql})").fetchone() or ()
    assert instant == 1_714_557_600_000_000  # 2024-05-01T10:00:00Z
    out = sqlglot.parse_one(to_duckdb(query).sql, read="duckdb")
    assert all(table.args.get("version") is None for table in out.find_all(exp.Table))


def test_time_travel_needs_a_snapshot_id_or_a_constant_instant() -> None:
    assert _refusal("SELECT * FROM t FOR VERSION AS OF 'abc'").error_name == "SYNTAX_ERROR"
    error = _refusal("SELECT * FROM t FOR TIMESTAMP AS OF t.ts")
    assert error.error_name == "INVALID_ARGUMENTS"


def test_every_table_becomes_a_generated_name() -> None:
    """No name the query wrote reaches DuckDB as a table: it could only resolve to DuckDB's
    own catalog (information_schema, duckdb_tables ...) or a replacement scan of a file."""
    sql = (
        'SELECT * FROM information_schema.tables, "x.csv", main.sqlite_master, '
        "k2_lakehouse.t FOR VERSION AS OF 1"
    )
    query = parse_athena_query(sql, database=DB)
    out = sqlglot.parse_one(to_duckdb(query).sql, read="duckdb")
    tables = list(out.find_all(exp.Table))
    assert len(tables) == 4
    assert all(not t.db and not t.catalog and t.name.startswith("__k2_relation_") for t in tables)
    assert {r.name for r in query.relations} == {t.name for t in tables}
    assert sorted(r.database for r in query.relations) == sorted(
        ["information_schema", DB, "main", DB]
    )


# --- translation, run on DuckDB --------------------------------------------------------------


@pytest.fixture
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    yield connection
    connection.close()


def _run(connection: duckdb.DuckDBPyConnection, sql: str, **tables: str) -> list[tuple[Any, ...]]:
    query = parse_athena_query(sql, database=DB)
    for relation in query.relations:
        connection.execute(f'CREATE OR REPLACE VIEW "{relation.name}" AS {tables[relation.table]}')
    return connection.execute(to_duckdb(query).sql).fetchall()


def test_unnamed_outputs_are_named_like_trino(duck: duckdb.DuckDBPyConnection) -> None:
    query = parse_athena_query("SELECT a, a + 1, count(*) AS n, 2 FROM t GROUP BY a", database=DB)
    cursor = duck.execute(to_duckdb(query).sql.replace('"__k2_relation_0"', "(SELECT 1 AS a)"))
    assert [d[0] for d in cursor.description or []] == ["a", "_col1", "n", "_col3"]


@pytest.mark.parametrize(
    ("sql", "names", "rows"),
    [
        ("(SELECT 1, 2 AS b)", ["_col0", "b"], [(1, 2)]),
        ("VALUES (1, 'a'), (2, 'b')", ["_col0", "_col1"], [(1, "a"), (2, "b")]),
        ("SELECT 1 UNION ALL SELECT 2 ORDER BY 1", ["_col0"], [(1,), (2,)]),
    ],
)
def test_queries_without_tables_run(
    duck: duckdb.DuckDBPyConnection, sql: str, names: list[str], rows: list[tuple[Any, ...]]
) -> None:
    cursor = duck.execute(translate(sql, database=DB))
    assert [d[0] for d in cursor.description or []] == names
    assert cursor.fetchall() == rows


def test_trino_functions_translate_to_duckdb(duck: duckdb.DuckDBPyConnection) -> None:
    rows = _run(
        duck,
        """
        SELECT date_trunc('hour', ts) AS hour_start,
               date_format(ts, '%Y-%m-%d %H:%i:%s') AS formatted,
               to_unixtime(ts) AS unix_seconds,
               from_unixtime(1700000000) AS from_unix,
               regexp_like(name, '^b.*t$') AS matches,
               try_cast(name AS BIGINT) AS not_a_number,
               CAST(amount AS DECIMAL(10, 2)) AS rounded,
               date_diff('minute', ts, ts + INTERVAL '90' MINUTE) AS minutes,
               date_add('day', 2, CAST(ts AS DATE)) AS two_days_on,
               7 / 2 AS int_div,
               -7 / 2 AS neg_int_div,
               if(amount > 1, 'big', 'small') AS size
        FROM t
        """,
        t="SELECT TIMESTAMPTZ '2024-03-01 12:34:56.5+00' AS ts, 'binance_btcusdt' AS name, "
        "1.235::DECIMAL(10, 3) AS amount",
    )
    assert rows == [
        (
            datetime(2024, 3, 1, 12, tzinfo=UTC),
            "2024-03-01 12:34:56",
            1709296496.5,
            datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
            True,
            None,
            Decimal("1.24"),  # Trino rounds half up when casting to a smaller scale
            90,
            date(2024, 3, 3),
            3,  # Trino's integer division truncates
            -3,
            "big",
        )
    ]
