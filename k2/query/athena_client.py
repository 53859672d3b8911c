"""Run one SQL statement on Athena (in AWS or on the local endpoint) and collect its result.

The same boto3 calls reach both: ``StartQueryExecution``, ``GetQueryExecution`` polled until the
query ends (each poll reported, so a caller can show progress), then ``GetQueryResults`` paged.
Athena returns every value as text; :func:`arrow_table` types them from the result's column
metadata, exactly (decimals stay decimals), for Parquet output.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
PAGE_SIZE = 1000
"""GetQueryResults' maximum MaxResults."""


class AthenaQueryFailedError(Exception):
    """The query ended FAILED or CANCELLED; the message is Athena's reason."""

    def __init__(self, query_execution_id: str, state: str, reason: str) -> None:
        super().__init__(f"{state}: {reason}" if reason else state)
        self.query_execution_id = query_execution_id
        self.state = state
        self.reason = reason


@dataclass(frozen=True)
class ResultColumn:
    name: str
    type: str
    precision: int = 0
    scale: int = 0


@dataclass(frozen=True)
class QueryProgress:
    """One poll of a running query."""

    query_execution_id: str
    state: str
    elapsed_s: float
    data_scanned_bytes: int


@dataclass(frozen=True)
class QueryOutcome:
    query_execution_id: str
    columns: tuple[ResultColumn, ...]
    rows: list[tuple[str | None, ...]]
    data_scanned_bytes: int
    engine_ms: int
    output_location: str | None


def run_query(
    athena: Any,
    sql: str,
    *,
    database: str,
    workgroup: str,
    output_location: str | None = None,
    on_progress: Callable[[QueryProgress], None] = lambda _: None,
    poll_s: float = 0.2,
    max_rows: int | None = None,
) -> QueryOutcome:
    """Start ``sql``, wait for it, and read its rows (at most ``max_rows``)."""
    request: dict[str, Any] = {
        "QueryString": sql,
        "QueryExecutionContext": {"Database": database},
        "WorkGroup": workgroup,
    }
    if output_location is not None:
        request["ResultConfiguration"] = {"OutputLocation": output_location}
    query_id = athena.start_query_execution(**request)["QueryExecutionId"]
    started = time.monotonic()
    try:
        execution = _wait(athena, query_id, started, on_progress, poll_s)
    except KeyboardInterrupt:
        athena.stop_query_execution(QueryExecutionId=query_id)
        raise
    status = execution["Status"]
    if status["State"] != "SUCCEEDED":
        raise AthenaQueryFailedError(query_id, status["State"], status.get("StateChangeReason", ""))
    has_header = execution.get("StatementType", "DML") == "DML"
    columns, rows = _results(athena, query_id, has_header, max_rows)
    statistics = execution.get("Statistics", {})
    return QueryOutcome(
        query_execution_id=query_id,
        columns=columns,
        rows=rows,
        data_scanned_bytes=int(statistics.get("DataScannedInBytes", 0)),
        engine_ms=int(statistics.get("EngineExecutionTimeInMillis", 0)),
        output_location=execution.get("ResultConfiguration", {}).get("OutputLocation"),
    )


def _wait(
    athena: Any,
    query_id: str,
    started: float,
    on_progress: Callable[[QueryProgress], None],
    poll_s: float,
) -> dict[str, Any]:
    while True:
        execution: dict[str, Any] = athena.get_query_execution(QueryExecutionId=query_id)[
            "QueryExecution"
        ]
        state = execution["Status"]["State"]
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
        on_progress(QueryProgress(query_id, state, time.monotonic() - started, scanned))
        if state in TERMINAL_STATES:
            return execution
        time.sleep(poll_s)


def _results(
    athena: Any, query_id: str, has_header: bool, max_rows: int | None
) -> tuple[tuple[ResultColumn, ...], list[tuple[str | None, ...]]]:
    columns: tuple[ResultColumn, ...] = ()
    rows: list[tuple[str | None, ...]] = []
    for page_number, page in enumerate(_pages(athena, query_id)):
        result_set = page["ResultSet"]
        page_rows = [
            tuple(datum.get("VarCharValue") for datum in row["Data"])
            for row in result_set.get("Rows", [])
        ]
        if page_number == 0:
            columns = tuple(
                ResultColumn(
                    info["Name"], info["Type"], info.get("Precision", 0), info.get("Scale", 0)
                )
                for info in result_set["ResultSetMetadata"]["ColumnInfo"]
            )
            if has_header:  # a SELECT's first page starts with the column names
                page_rows = page_rows[1:]
        rows.extend(page_rows)
        if max_rows is not None and len(rows) >= max_rows:
            return columns, rows[:max_rows]
    return columns, rows


def _pages(athena: Any, query_id: str) -> Iterator[dict[str, Any]]:
    token: str | None = None
    while True:
        request: dict[str, Any] = {"QueryExecutionId": query_id, "MaxResults": PAGE_SIZE}
        if token:
            request["NextToken"] = token
        page: dict[str, Any] = athena.get_query_results(**request)
        yield page
        token = page.get("NextToken")
        if not token:
            return


# -- typing Athena's text values -------------------------------------------------------------------

_INTEGERS = {
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
}
_FLOATS = {"real": pa.float32(), "float": pa.float32(), "double": pa.float64()}


def arrow_type(column: ResultColumn) -> pa.DataType:
    kind = column.type.lower()
    if kind in _INTEGERS:
        return _INTEGERS[kind]
    if kind in _FLOATS:
        return _FLOATS[kind]
    if kind == "boolean":
        return pa.bool_()
    if kind == "decimal":
        return pa.decimal128(column.precision or 38, column.scale)
    if kind == "date":
        return pa.date32()
    if kind == "timestamp":
        return pa.timestamp("us")
    if kind == "timestamp with time zone":
        return pa.timestamp("us", tz="UTC")
    return pa.string()


def _typed_value(column: ResultColumn, text: str | None) -> Any:
    if text is None:
        return None
    kind = column.type.lower()
    if kind in _INTEGERS:
        return int(text)
    if kind in _FLOATS:
        return float(text)
    if kind == "boolean":
        return text == "true"
    if kind == "decimal":
        return Decimal(text)
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "timestamp":
        return datetime.fromisoformat(text)
    if kind == "timestamp with time zone":
        moment, _, zone = text.rpartition(" ")
        if zone not in ("UTC", "Z", "+00:00"):
            return datetime.fromisoformat(text).astimezone(UTC)
        return datetime.fromisoformat(moment).replace(tzinfo=UTC)
    return text


def arrow_table(
    columns: Sequence[ResultColumn], rows: Sequence[tuple[str | None, ...]]
) -> pa.Table:
    """The rows typed by their Athena column types (unknown types stay text)."""
    arrays = [
        pa.array([_typed_value(column, row[index]) for row in rows], type=arrow_type(column))
        for index, column in enumerate(columns)
    ]
    return pa.Table.from_arrays(arrays, names=[column.name for column in columns])
