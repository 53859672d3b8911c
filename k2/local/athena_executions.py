"""Query executions of the local Athena: their state machine and the threads that run them.

Athena runs a query asynchronously: ``StartQueryExecution`` answers with an id at once and the
query moves QUEUED → RUNNING → SUCCEEDED / FAILED / CANCELLED while clients poll. Here a small
thread pool inside the moto server does the running. The engine (DuckDB over the Glue catalog's
Iceberg tables) and the result writer (CSV + metadata to S3) are passed in, so this module only
knows the life of an execution: whatever the engine raises, the execution ends in a terminal
state with Athena's error shape, never hangs and never turns into a 500.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

QUEUED = "QUEUED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

SYSTEM = 1
USER = 2
ENGINE_INTERNAL_ERROR = 200
"""Athena's error type "Query engine had an internal error"."""
RESULT_WRITE_ERROR = 401
"""Athena's error type "Failed to write query results to Amazon S3"."""
USER_ERROR = 1000

WORKERS = 2
"""Queries running at once; more wait QUEUED (the machine the local cloud runs on is small)."""

log = logging.getLogger(__name__)


class ResultColumn(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def precision(self) -> int: ...
    @property
    def scale(self) -> int: ...
    @property
    def nullable(self) -> str: ...
    @property
    def case_sensitive(self) -> bool: ...


class QueryResult(Protocol):
    @property
    def columns(self) -> Sequence[ResultColumn]: ...
    @property
    def rows(self) -> Sequence[tuple[str | None, ...]]: ...
    @property
    def data_scanned_bytes(self) -> int: ...


class QueryFailure(Exception):  # noqa: N818 - carries Athena's AthenaError, not a Python error
    """What the engine reports for a query Athena would fail: ``Status.AthenaError``."""

    def __init__(
        self, error_category: int, error_type: int, message: str, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.error_category = error_category
        self.error_type = error_type
        self.message = message
        self.retryable = retryable


class QueryCancelled(Exception):  # noqa: N818 - a state, not an error
    """The engine stopped because the execution's ``cancelled`` event was set."""


class Engine(Protocol):
    def __call__(self, sql: str, *, database: str, cancelled: threading.Event) -> QueryResult:
        """Run the statement; raise :class:`QueryFailure` or :class:`QueryCancelled`."""


ResultWriter = Callable[[str, str, QueryResult], None]
"""``(output_location, query_execution_id, result)``: writes ``<output_location>/<id>.csv`` and
its ``.metadata``."""


@dataclass
class Execution:
    """One query execution; mutable, guarded by its store's lock."""

    query_execution_id: str
    query: str
    sql: str
    """The statement run: ``query`` with its ``ExecutionParameters`` bound."""
    work_group: str
    database: str
    query_execution_context: dict[str, str]
    output_location: str
    """Where results go (the request's or the work group's ``OutputLocation``)."""
    result_configuration: dict[str, Any]
    """As reported: ``OutputLocation`` names the result file."""
    engine_version: dict[str, str]
    statement_type: str
    substatement_type: str
    has_header_row: bool
    execution_parameters: list[str] | None
    client_request_token: str | None
    submitted_at: float = field(default_factory=time.time)
    state: str = QUEUED
    started_at: float | None = None
    engine_done_at: float | None = None
    completed_at: float | None = None
    state_change_reason: str | None = None
    athena_error: QueryFailure | None = None
    result: QueryResult | None = None
    data_scanned_bytes: int = 0
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def output_file(self) -> str:
        return str(self.result_configuration["OutputLocation"])


class ExecutionStore:
    """The executions of one account and region, and the running of them."""

    def __init__(self, engine: Engine, write_result: ResultWriter, pool: ThreadPoolExecutor):
        self._engine = engine
        self._write_result = write_result
        self._pool = pool
        self._lock = threading.Lock()
        self._executions: dict[str, Execution] = {}
        self._by_token: dict[str, str] = {}

    def submit(self, execution: Execution) -> str:
        """Queue the execution; a repeated ``ClientRequestToken`` returns the first one's id."""
        with self._lock:
            token = execution.client_request_token
            if token is not None and token in self._by_token:
                return self._by_token[token]
            self._executions[execution.query_execution_id] = execution
            if token is not None:
                self._by_token[token] = execution.query_execution_id
        self._pool.submit(self._run, execution)
        return execution.query_execution_id

    def first_with_token(self, token: str) -> Execution | None:
        with self._lock:
            existing = self._by_token.get(token)
            return self._executions.get(existing) if existing else None

    def get(self, query_execution_id: str) -> Execution | None:
        with self._lock:
            return self._executions.get(query_execution_id)

    def ids(self, work_group: str) -> list[str]:
        """The work group's executions, newest first (as ``ListQueryExecutions`` lists them)."""
        with self._lock:
            chosen = [e for e in self._executions.values() if e.work_group == work_group]
        return [e.query_execution_id for e in reversed(chosen)]  # the dict keeps submission order

    def stop(self, query_execution_id: str) -> None:
        """CANCELLED at once if not finished (Athena's StopQueryExecution is idempotent)."""
        with self._lock:
            execution = self._executions[query_execution_id]
            if execution.state in TERMINAL:
                return
            execution.cancelled.set()
            execution.state = CANCELLED
            execution.completed_at = time.time()

    def snapshot(self, query_execution_id: str) -> Execution | None:
        """A copy that later state changes cannot tear while a response is being built."""
        with self._lock:
            execution = self._executions.get(query_execution_id)
            return None if execution is None else _copy(execution)

    # --- the worker ---------------------------------------------------------------------------

    def _run(self, execution: Execution) -> None:
        try:
            self._run_guarded(execution)
        except BaseException:  # a worker must never leave an execution unfinished
            log.exception("query %s: unexpected error", execution.query_execution_id)
            self._finish(
                execution,
                FAILED,
                QueryFailure(SYSTEM, ENGINE_INTERNAL_ERROR, "Query engine had an internal error"),
            )

    def _run_guarded(self, execution: Execution) -> None:
        with self._lock:
            if execution.state != QUEUED:
                return  # stopped while it waited
            execution.state = RUNNING
            execution.started_at = time.time()
        try:
            result = self._engine(
                execution.sql, database=execution.database, cancelled=execution.cancelled
            )
        except QueryCancelled:
            self._finish(execution, CANCELLED, None)
            return
        except QueryFailure as failure:
            self._finish(execution, FAILED, failure)
            return
        except Exception as error:
            log.exception("query %s: the engine failed", execution.query_execution_id)
            message = f"Query engine had an internal error: {type(error).__name__}: {error}"
            self._finish(execution, FAILED, QueryFailure(SYSTEM, ENGINE_INTERNAL_ERROR, message))
            return
        with self._lock:
            execution.engine_done_at = time.time()
            execution.data_scanned_bytes = result.data_scanned_bytes
            if execution.state != RUNNING:
                return  # stopped while the engine ran: its rows are dropped, like Athena's
        try:
            # Written before SUCCEEDED: a client that sees SUCCEEDED may read the file at once.
            self._write_result(execution.output_location, execution.query_execution_id, result)
        except Exception as error:
            log.exception("query %s: writing the result failed", execution.query_execution_id)
            message = f"Failed to write query results to {execution.output_file}: {error}"
            self._finish(execution, FAILED, QueryFailure(SYSTEM, RESULT_WRITE_ERROR, message))
            return
        with self._lock:
            if execution.state == RUNNING:
                execution.result = result
                execution.state = SUCCEEDED
                execution.completed_at = time.time()

    def _finish(self, execution: Execution, state: str, failure: QueryFailure | None) -> None:
        with self._lock:
            if execution.state in TERMINAL:
                return
            now = time.time()
            execution.engine_done_at = execution.engine_done_at or now
            execution.completed_at = now
            execution.state = state
            execution.athena_error = failure
            execution.state_change_reason = failure.message if failure else None


def _copy(execution: Execution) -> Execution:
    copied = Execution.__new__(Execution)
    copied.__dict__.update(execution.__dict__)
    return copied
