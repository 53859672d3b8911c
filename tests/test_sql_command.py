"""``k2 sql`` against the test cloud's Athena: printed tables, CSV and Parquet files, the
interactive session, and failures that exit non-zero with Athena's reason."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from k2.cli import app
from k2.local.cloud import LocalCloud

pytestmark = pytest.mark.integration

QUERY = (
    "SELECT symbol, CAST(price AS DECIMAL(20, 10)) AS price, n "
    "FROM (VALUES ('BTCUSDT', '97000.1234567891', 3), ('ETH/USD', '0.0000000001', NULL)) "
    "AS t(symbol, price, n) ORDER BY symbol"
)


@pytest.fixture(scope="module")
def runner(local_cloud: LocalCloud) -> CliRunner:
    """The session cloud's client environment is exported, so `--target auto` finds it."""
    return CliRunner()


def test_a_query_prints_its_rows_with_their_types(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sql", QUERY], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "BTCUSDT" in result.output
    assert "97000.1234567891" in result.output
    assert "decimal" in result.output
    assert "2 row(s)" in result.output


def test_csv_output_holds_every_value_as_athena_rendered_it(
    runner: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "rows.csv"
    result = runner.invoke(app, ["sql", QUERY, "--output", str(target)])
    assert result.exit_code == 0, result.output
    with target.open(newline="") as file:
        assert list(csv.reader(file)) == [
            ["symbol", "price", "n"],
            ["BTCUSDT", "97000.1234567891", "3"],
            ["ETH/USD", "0.0000000001", ""],
        ]


def test_parquet_output_keeps_exact_decimals_and_nulls(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "rows.parquet"
    result = runner.invoke(app, ["sql", QUERY, "-o", str(target)])
    assert result.exit_code == 0, result.output
    table = pq.read_table(target)
    assert table.schema.field("price").type == pa.decimal128(20, 10)
    assert table.to_pylist() == [
        {"symbol": "BTCUSDT", "price": Decimal("97000.1234567891"), "n": 3},
        {"symbol": "ETH/USD", "price": Decimal("0.0000000001"), "n": None},
    ]


def test_malformed_sql_exits_non_zero_with_athenas_reason(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sql", "SELEC 1"])
    assert result.exit_code == 1
    assert "InvalidRequestException" in result.output


def test_a_write_is_refused(runner: CliRunner) -> None:
    result = runner.invoke(app, ["sql", "DROP TABLE gold_crypto_trades"])
    assert result.exit_code == 1
    assert "FAILED" in result.output


def test_an_unknown_output_format_is_a_usage_error(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["sql", "SELECT 1", "--output", str(tmp_path / "x.xlsx")])
    assert result.exit_code == 2
    assert "format" in result.output


def test_the_interactive_session_runs_statements_until_quit(runner: CliRunner) -> None:
    session = "SELECT 41 + 1\n  AS answer;\nSELEC 1;\nSELECT 'still here' AS s;\n\\q\n"
    result = runner.invoke(app, ["sql"], input=session, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "42" in result.output
    assert "InvalidRequestException" in result.output  # a failure does not end the session
    assert "still here" in result.output
