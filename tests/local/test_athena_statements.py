"""The pure rules of the local Athena API: statement types, ExecutionParameters, result files,
page tokens."""

from __future__ import annotations

import pytest

from k2.local.athena_statements import (
    ParameterCountError,
    bind_execution_parameters,
    classify,
    is_s3_location,
    page_token,
    result_file,
    syntax_error,
    token_offset,
)


@pytest.mark.parametrize(
    ("sql", "statement_type", "substatement_type", "header"),
    [
        ("SELECT 1", "DML", "SELECT", True),
        ("  -- a comment\n/* another */ (SELECT 1)", "DML", "SELECT", True),
        ("with t as (select 1) select * from t", "DML", "SELECT", True),
        ("VALUES 1, 2", "DML", "SELECT", True),
        ("INSERT INTO t VALUES (1)", "DML", "INSERT", True),
        ("CREATE TABLE x AS SELECT 1", "DDL", "CREATE_TABLE_AS_SELECT", False),
        ("CREATE TABLE x (a int)", "DDL", "CREATE_TABLE", False),
        ("DROP TABLE t", "DDL", "DROP_TABLE", False),
        ("SHOW TABLES", "DDL", "SHOW_TABLES", False),
        ("DESCRIBE t", "DDL", "DESCRIBE", False),
        ("EXPLAIN SELECT 1", "UTILITY", "EXPLAIN", True),
    ],
)
def test_statements_are_classified_like_athena(
    sql: str, statement_type: str, substatement_type: str, header: bool
) -> None:
    kind = classify(sql)
    assert (kind.statement_type, kind.substatement_type) == (statement_type, substatement_type)
    assert kind.has_header_row is header


def test_execution_parameters_replace_placeholders_in_order() -> None:
    sql = "SELECT * FROM t WHERE a = ? AND b = ? AND c = '?' AND \"?\" = 1 -- ?\n/* ? */"
    bound = bind_execution_parameters(sql, ["1", "'x'"])
    assert bound == (
        "SELECT * FROM t WHERE a = 1 AND b = 'x' AND c = '?' AND \"?\" = 1 -- ?\n/* ? */"
    )


def test_escaped_quotes_do_not_end_a_literal() -> None:
    assert bind_execution_parameters("SELECT 'it''s ?', ?", ["2"]) == "SELECT 'it''s ?', 2"


@pytest.mark.parametrize(
    ("sql", "parameters", "expected", "found"),
    [("SELECT ?", [], 1, 0), ("SELECT 1", ["1"], 0, 1), ("SELECT ?, ?", ["1"], 2, 1)],
)
def test_a_parameter_count_mismatch_is_refused(
    sql: str, parameters: list[str], expected: int, found: int
) -> None:
    with pytest.raises(ParameterCountError, match=f"expected {expected} but found {found}"):
        bind_execution_parameters(sql, parameters)


def test_no_parameters_leave_the_statement_as_it_is() -> None:
    assert bind_execution_parameters("SELECT 1", None) == "SELECT 1"


def test_the_result_file_is_named_after_the_query() -> None:
    assert result_file("s3://b/results/", "abc") == "s3://b/results/abc.csv"
    assert result_file("s3://b/results", "abc") == "s3://b/results/abc.csv"
    assert result_file("s3://b", "abc") == "s3://b/abc.csv"


def test_only_s3_paths_are_output_locations() -> None:
    assert is_s3_location("s3://bucket/prefix/")
    assert is_s3_location("s3://bucket")
    assert not is_s3_location("s3://")
    assert not is_s3_location("/tmp/results")
    assert not is_s3_location("https://bucket.s3.amazonaws.com/x")


def test_a_page_token_belongs_to_one_query() -> None:
    token = page_token("query-1", 1000)
    assert token_offset(token, "query-1") == 1000
    assert token_offset(token, "query-2") is None
    assert token_offset("not a token", "query-1") is None
    assert token_offset("", "query-1") is None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "SELECT 1;",
        "SELECT * FROM t FOR VERSION AS OF 123",
        "SELECT * FROM t FOR TIMESTAMP AS OF TIMESTAMP '2026-01-01 00:00:00 UTC'",
        "WITH a AS (SELECT 1 AS x) SELECT x FROM a",
        "INSERT INTO t VALUES (1)",  # parses: refusing writes is the engine's business
    ],
)
def test_statements_that_parse_are_accepted(sql: str) -> None:
    assert syntax_error(sql) is None


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC 1", "line 1:7: "),
        ("SELECT x FROM t WHERE", "line 1:21: "),
        ("SELECT (1", "line 1:"),
        ("SELECT 1; SELECT 2", "Only one sql statement is allowed. Got: SELECT 1; SELECT 2"),
        ("", "line 1:1: mismatched input '<EOF>'"),
    ],
)
def test_statements_that_do_not_parse_are_malformed(sql: str, message: str) -> None:
    reason = syntax_error(sql)
    assert reason is not None and reason.startswith(message)
