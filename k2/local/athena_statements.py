"""Pure pieces of the local Athena API: how a statement is classified, how ``ExecutionParameters``
are bound, where a query's result file goes, and how result pages are addressed.

Kept apart from the moto handlers (``k2.local.athena_service``) and the execution store
(``k2.local.athena_executions``) so each rule can be read and tested on its own.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot.errors import ParseError, SqlglotError

DML = "DML"
DDL = "DDL"
UTILITY = "UTILITY"

_DML_KEYWORDS = {"SELECT", "WITH", "VALUES", "TABLE", "INSERT", "DELETE", "UPDATE", "MERGE"}
_UTILITY_KEYWORDS = {"EXPLAIN", "PREPARE", "EXECUTE", "DEALLOCATE", "USE"}
_READ_KEYWORDS = {"WITH", "VALUES", "TABLE"}
"""Queries Athena reports as ``SubstatementType: SELECT`` although they start otherwise."""


class ParameterCountError(ValueError):
    """``ExecutionParameters`` and the statement's ``?`` placeholders do not pair up."""


@dataclass(frozen=True)
class StatementKind:
    statement_type: str
    """``DML``, ``DDL`` or ``UTILITY`` (``QueryExecution.StatementType``)."""
    substatement_type: str
    """E.g. ``SELECT``, ``INSERT``, ``CREATE_TABLE_AS_SELECT``, ``SHOW_TABLES``."""

    @property
    def has_header_row(self) -> bool:
        """Athena puts the column labels in the first row of a query's result set; DDL output
        (``SHOW``, ``DESCRIBE``) has none."""
        return self.statement_type != DDL


def classify(sql: str) -> StatementKind:
    """The statement type Athena reports, from the statement's leading keywords."""
    words = [word.upper() for word in _tokens(sql)[:6]]
    if not words:
        return StatementKind(DML, "SELECT")
    first = words[0]
    if first in _DML_KEYWORDS:
        return StatementKind(DML, "SELECT" if first in _READ_KEYWORDS else first)
    if first == "UNLOAD":
        return StatementKind(DML, "UNLOAD")
    if first in _UTILITY_KEYWORDS:
        return StatementKind(UTILITY, first)
    if first == "CREATE" and "TABLE" in words and "AS" in _upper_words(sql):
        return StatementKind(DDL, "CREATE_TABLE_AS_SELECT")
    if first in {"CREATE", "DROP", "ALTER", "SHOW"} and len(words) > 1:
        second = next((w for w in words[1:] if w not in {"OR", "REPLACE", "EXTERNAL"}), words[1])
        return StatementKind(DDL, f"{first}_{second}")
    return StatementKind(DDL, first)


def bind_execution_parameters(sql: str, parameters: Sequence[str] | None) -> str:
    """Put each of ``ExecutionParameters`` (SQL literals, as Athena takes them) in place of the
    statement's ``?`` placeholders, in order. Question marks in string literals, quoted names and
    comments are not placeholders."""
    values = list(parameters or [])
    pieces: list[str] = []
    used = 0
    start = 0
    for index in _placeholder_positions(sql):
        pieces.append(sql[start:index])
        pieces.append(values[used] if used < len(values) else "?")
        used += 1
        start = index + 1
    pieces.append(sql[start:])
    if used != len(values):
        raise ParameterCountError(
            f"Incorrect number of parameters: expected {used} but found {len(values)}"
        )
    return "".join(pieces)


def syntax_error(sql: str) -> str | None:
    """Why the statement cannot be parsed, in Trino's ``line L:C: ...`` form, or None.

    Athena parses a statement before it accepts it: a statement that does not parse (or is more
    than one statement) is refused by ``StartQueryExecution`` itself (``InvalidRequestException``,
    ``AthenaErrorCode: MALFORMED_QUERY``) and no execution is made; only statements that parse
    start and may then fail. The parser is sqlglot's Trino dialect, the one the engine uses.
    """
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        line, column = first.get("line", 1), first.get("col", 1)
        description = first.get("description") or str(error).splitlines()[0]
        highlight = first.get("highlight")
        near = f" at or near '{highlight}'" if highlight else ""
        return f"line {line}:{column}: {description}{near}"
    except SqlglotError as error:
        return f"line 1:1: {str(error).splitlines()[0]}"
    if not statements:
        return "line 1:1: mismatched input '<EOF>'. Expecting: a statement"
    if len(statements) > 1:
        return f"Only one sql statement is allowed. Got: {sql.strip()}"
    return None


def result_file(output_location: str, query_execution_id: str) -> str:
    """``<OutputLocation>/<QueryExecutionId>.csv``, where Athena writes a query's result."""
    return f"{output_location.rstrip('/')}/{query_execution_id}.csv"


def is_s3_location(location: str) -> bool:
    bucket = location.removeprefix("s3://").split("/", 1)[0]
    return location.startswith("s3://") and bool(bucket)


def page_token(query_execution_id: str, offset: int) -> str:
    """An opaque ``NextToken``: the row offset, bound to the query it pages."""
    payload = json.dumps({"q": query_execution_id, "o": offset}).encode()
    return base64.urlsafe_b64encode(payload).decode()


def token_offset(token: str, query_execution_id: str) -> int | None:
    """The row offset a ``NextToken`` names, or None if it is not a token for this query."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or payload.get("q") != query_execution_id:
        return None
    offset = payload.get("o")
    return offset if isinstance(offset, int) and offset >= 0 else None


def _upper_words(sql: str) -> set[str]:
    return {word.upper() for word in _tokens(sql)}


def _tokens(sql: str) -> list[str]:
    """Bare words of the statement outside literals, quoted names and comments."""
    words: list[str] = []
    current: list[str] = []
    for kind, text in _scan(sql):
        if kind == "code":
            for char in text:
                if char.isalnum() or char == "_":
                    current.append(char)
                elif current:
                    words.append("".join(current))
                    current = []
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def _placeholder_positions(sql: str) -> list[int]:
    positions: list[int] = []
    offset = 0
    for kind, text in _scan(sql):
        if kind == "code":
            positions.extend(offset + i for i, char in enumerate(text) if char == "?")
        offset += len(text)
    return positions


def _scan(sql: str) -> list[tuple[str, str]]:
    """Split SQL into ("code" | "quoted" | "comment", text) runs that concatenate back to it."""
    runs: list[tuple[str, str]] = []
    i, n, start = 0, len(sql), 0
    while i < n:
        char = sql[i]
        end: int | None = None
        kind = ""
        if char in "'\"":
            end = _quoted_end(sql, i, char)
            kind = "quoted"
        elif sql.startswith("--", i):
            newline = sql.find("\n", i)
            end = n if newline < 0 else newline
            kind = "comment"
        elif sql.startswith("/*", i):
            close = sql.find("*/", i + 2)
            end = n if close < 0 else close + 2
            kind = "comment"
        if end is None:
            i += 1
            continue
        if start < i:
            runs.append(("code", sql[start:i]))
        runs.append((kind, sql[i:end]))
        i = start = end
    if start < n:
        runs.append(("code", sql[start:]))
    return runs


def _quoted_end(sql: str, start: int, quote: str) -> int:
    """Index after the closing quote; a doubled quote is an escaped one."""
    i = start + 1
    while i < len(sql):
        if sql[i] == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return len(sql)
