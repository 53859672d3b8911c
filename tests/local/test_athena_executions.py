"""The execution store's life cycle: whatever the engine or the result writer does, an execution
ends in a terminal state with Athena's error shape.

The engine and the writer here are small functions standing in for DuckDB and S3, so that the
store's contract can be driven into each branch (an engine that crashes with a non-Athena error
cannot be provoked reliably through the real one); the real engine and writer are exercised end
to end in ``test_athena_api.py``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from k2.local.athena_executions import (
    CANCELLED,
    ENGINE_INTERNAL_ERROR,
    FAILED,
    QUEUED,
    RESULT_WRITE_ERROR,
    RUNNING,
    SUCCEEDED,
    SYSTEM,
    TERMINAL,
    USER,
    Execution,
    ExecutionStore,
    QueryCancelled,
    QueryFailure,
    QueryResult,
)

DEADLINE_S = 30.0


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    precision: int = 19
    scale: int = 0
    nullable: str = "UNKNOWN"
    case_sensitive: bool = False


@dataclass(frozen=True)
class Result:
    columns: tuple[Column, ...]
    rows: list[tuple[str | None, ...]]
    data_scanned_bytes: int


ONE_ROW = Result((Column("x", "bigint"),), [("1",)], 42)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=2)
    yield executor
    executor.shutdown(wait=True)


def _execution(query_id: str, sql: str = "SELECT 1", token: str | None = None) -> Execution:
    return Execution(
        query_execution_id=query_id,
        query=sql,
        sql=sql,
        work_group="primary",
        database="default",
        query_execution_context={},
        output_location="s3://bucket/",
        result_configuration={"OutputLocation": f"s3://bucket/{query_id}.csv"},
        engine_version={},
        statement_type="DML",
        substatement_type="SELECT",
        has_header_row=True,
        execution_parameters=None,
        client_request_token=token,
    )


def _wait(store: ExecutionStore, query_id: str, states: frozenset[str] = TERMINAL) -> Execution:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        execution = store.snapshot(query_id)
        assert execution is not None
        if execution.state in states:
            return execution
        time.sleep(0.01)
    raise AssertionError(f"{query_id} never reached {sorted(states)}")


def _writer(written: dict[str, QueryResult]) -> Callable[[str, str, QueryResult], None]:
    def write(output_location: str, query_id: str, result: QueryResult) -> None:
        written[f"{output_location}{query_id}.csv"] = result

    return write


def test_a_query_succeeds_after_its_result_is_written(pool: ThreadPoolExecutor) -> None:
    written: dict[str, QueryResult] = {}

    def engine(sql: str, *, database: str, cancelled: threading.Event) -> QueryResult:
        return ONE_ROW

    store = ExecutionStore(engine, _writer(written), pool)
    store.submit(_execution("q1"))
    execution = _wait(store, "q1")
    assert execution.state == SUCCEEDED
    assert written == {"s3://bucket/q1.csv": ONE_ROW}
    assert execution.result is ONE_ROW
    assert execution.data_scanned_bytes == 42
    assert execution.athena_error is None
    assert execution.started_at is not None and execution.completed_at is not None
    assert execution.submitted_at <= execution.started_at <= execution.completed_at


def test_an_athena_error_fails_the_query_with_its_shape(pool: ThreadPoolExecutor) -> None:
    def engine(sql: str, *, database: str, cancelled: threading.Event) -> QueryResult:
        raise QueryFailure(USER, 1006, "SYNTAX_ERROR: line 1:8: nope")

    store = ExecutionStore(engine, _writer({}), pool)
    store.submit(_execution("q1"))
    execution = _wait(store, "q1")
    assert execution.state == FAILED
    assert execution.state_change_reason == "SYNTAX_ERROR: line 1:8: nope"
    assert execution.athena_error is not None
    assert (execution.athena_error.error_category, execution.athena_error.error_type) == (
        USER,
        1006,
    )


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyError("x"), RecursionError()])
def test_any_other_engine_error_fails_the_query_as_a_system_error(
    pool: ThreadPoolExecutor, error: Exception
) -> None:
    def engine(sql: str, *, database: str, cancelled: threading.Event) -> QueryResult:
        raise error

    store = ExecutionStore(engine, _writer({}), pool)
    store.submit(_execution("q1"))
    execution = _wait(store, "q1")
    assert execution.state == FAILED
    assert execution.athena_error is not None
    assert execution.athena_error.error_category == SYSTEM
    assert execution.athena_error.error_type == ENGINE_INTERNAL_ERROR
    assert execution.state_change_reason == execution.athena_error.message


def test_a_failed_result_write_fails_the_query(pool: ThreadPoolExecutor) -> None:
    def engine(sql: str, *, database: str, cancelled: threading.Event) -> QueryResult:
        return ONE_ROW

    def writer(output_location: str, query_id: str, result: QueryResult) -> None:
        raise OSError("NoSuchBucket")

    store = ExecutionStore(engine, writer, pool)
    store.submit(_execution("q1"))
    execution = _wait(store, "q1")
    assert execution.state == FAILED
    assert execution.athena_error is not None
    assert execution.athena_error.error_type == RESULT_WRITE_ERROR
    assert execution.result is None


def test_stopping_a_running_query_cancels_it_and_drops_its_rows(
    pool: ThreadPoolExecutor,
) -> None:
    release = threading.Event()
    written: dict[str, QueryResult] = {}

    def engine(sql: str, *, database: str, cancelled: threading.Event) -> QueryResult:
        release.wait(DEADLINE_S)
        return ONE_ROW  # an engine that ignores the event: its rows must still be dropped

    store = ExecutionStore(engine, _writer(written), pool)
    store.submit(_execution("q1"))
    _wait(store, "q1", frozenset({RUNNING}))
    store.stop("q1")
    assert _wait(store, "q1").state == CANCELLED
    release.set()
    pool.shutdown(wait=True)
    execution = store.snapshot("q1")
    assert execution is not None
    assert execution.state == CANCELLED
    assert execution.result is None
    assert written == {}


def test_an_engine_that_honours_the_event_ends_cancelled(pool: ThreadPoolExecutor) -> None:
    def engine(sql: str, *, database: str, cancelled: threading.Event) -> QueryResult:
        if cancelled.wait(DEADLINE_S):
            raise QueryCancelled
        return ONE_ROW

    store = ExecutionStore(engine, _writer({}), pool)
    store.submit(_execution("q1"))
    _wait(store, "q1", frozenset({RUNNING}))
    store.stop("q1")
    pool.shutdown(wait=True)
    execution = store.snapshot("q1")
    assert execution is not None and execution.state == CANCELLED


def test_a_query_stopped_while_queued_never_runs() -> None:
    single = ThreadPoolExecutor(max_workers=1)
    release = threading.Event()
    ran: list[str] = []

    def engine(sql: str, *, database: str, cancelled: threading.Event) -> QueryResult:
        ran.append(sql)
        release.wait(DEADLINE_S)
        return ONE_ROW

    store = ExecutionStore(engine, _writer({}), single)
    store.submit(_execution("first", "SELECT 1"))
    _wait(store, "first", frozenset({RUNNING}))
    store.submit(_execution("second", "SELECT 2"))
    second = store.snapshot("second")
    assert second is not None and second.state == QUEUED
    store.stop("second")
    release.set()
    single.shutdown(wait=True)
    assert ran == ["SELECT 1"]
    assert _wait(store, "second").state == CANCELLED
    assert _wait(store, "first").state == SUCCEEDED


def test_stopping_a_finished_query_changes_nothing(pool: ThreadPoolExecutor) -> None:
    def engine(sql: str, *, database: str, cancelled: threading.Event) -> QueryResult:
        return ONE_ROW

    store = ExecutionStore(engine, _writer({}), pool)
    store.submit(_execution("q1"))
    _wait(store, "q1")
    store.stop("q1")
    execution = store.snapshot("q1")
    assert execution is not None and execution.state == SUCCEEDED


def test_a_repeated_client_request_token_returns_the_first_execution(
    pool: ThreadPoolExecutor,
) -> None:
    def engine(sql: str, *, database: str, cancelled: threading.Event) -> QueryResult:
        return ONE_ROW

    store = ExecutionStore(engine, _writer({}), pool)
    assert store.submit(_execution("q1", token="t" * 32)) == "q1"
    assert store.submit(_execution("q2", token="t" * 32)) == "q1"
    assert store.get("q2") is None
    assert store.ids("primary") == ["q1"]
