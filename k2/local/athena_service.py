"""The Athena JSON API on the local AWS endpoint, in place of stock moto's canned answers.

Stock moto 5.2.5 accepts a query and reports SUCCEEDED with no rows (or rows queued through its
test API); it never runs SQL, has no named-query delete or batch operations, ignores the work
group's result location and answers unknown ids with a 500. Plain boto3, pyathena and
``k2 sql`` need the real contract, so these handlers replace moto's for the operations below
and keep its storage of work groups and named queries (so moto's other Athena operations, such
as tags and ``DeleteWorkGroup``, stay consistent):

- ``StartQueryExecution`` checks synchronously what Athena checks synchronously and answers
  ``InvalidRequestException`` without making an execution: an unknown or disabled work group,
  no output location from the request or the work group, an output location that is not an S3
  path, a reused ``ClientRequestToken`` with other parameters, ``ExecutionParameters`` that do
  not match the statement's ``?`` placeholders, and SQL that does not parse (``AthenaErrorCode:
  MALFORMED_QUERY``, Trino's ``line L:C: ...`` message). Everything else (unknown tables or
  columns, type errors, statements the local engine refuses such as writes) is found while the
  query runs and ends it FAILED with ``Status.StateChangeReason`` and ``Status.AthenaError``.
- The work group's ``ResultConfiguration`` applies when the request gives none, and wins over
  the request's when the work group has ``EnforceWorkGroupConfiguration``.
- Results go to ``<OutputLocation>/<QueryExecutionId>.csv`` (plus ``.metadata``), and
  ``GetQueryResults`` pages them with the column labels as the first row of the first page.

The queries run in :mod:`k2.local.athena_executions`' thread pool, on the engine of
:mod:`k2.query.athena_execution` over the Glue catalog of this same server (reached over HTTP,
which moto's threaded werkzeug server answers while a request waits).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from moto.athena.models import AthenaBackend, NamedQuery, WorkGroup, athena_backends
from moto.athena.responses import AthenaResponse
from moto.core.exceptions import JsonRESTError
from pyiceberg.catalog.glue import GlueCatalog

from k2.aws import aws_client
from k2.lake.catalog import glue_catalog
from k2.local import athena_results, athena_statements
from k2.local.athena_executions import (
    SUCCEEDED,
    WORKERS,
    Engine,
    Execution,
    ExecutionStore,
    QueryCancelled,
    QueryFailure,
    QueryResult,
    ResultWriter,
)
from k2.settings import K2Settings

PRIMARY_WORK_GROUP = "primary"
DEFAULT_DATABASE = "default"
ENGINE_VERSION = "Athena engine version 3"
MAX_RESULTS = 1000
"""GetQueryResults' largest page (and its default)."""
MAX_LISTED = 50
"""ListQueryExecutions', ListNamedQueries' and ListWorkGroups' largest page (and default)."""
NO_OUTPUT_LOCATION = (  # Athena's text as of 2026, its double space included
    "No output location provided. You did not provide an output location for  your query "
    "results. Either specify an S3 bucket location or enable Athena managed query results in "
    "your workgroup settings."
)

_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="athena-query")
_stores: weakref.WeakKeyDictionary[AthenaBackend, ExecutionStore] = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()
_creation_times: weakref.WeakKeyDictionary[WorkGroup, float] = weakref.WeakKeyDictionary()
_engine: Engine | None = None
_result_writer: ResultWriter | None = None


class InvalidRequestException(JsonRESTError):  # noqa: N818 - the name Athena answers with
    """Athena's 400 for a request it refuses, with its ``AthenaErrorCode``."""

    def __init__(self, message: str, athena_error_code: str = "INVALID_INPUT") -> None:
        super().__init__("InvalidRequestException", message)
        self.description = json.dumps(
            {
                "__type": "InvalidRequestException",
                "Message": message,
                "AthenaErrorCode": athena_error_code,
            }
        )


# --- the engine and the result writer ----------------------------------------------------------


class _LakeEngine:
    """Runs Athena SQL on DuckDB over the Glue catalog of the settings' endpoint (this server).

    The engine's modules are imported, and the catalog made, on the first query: the endpoint
    must serve S3 and Glue even if they could not load, and such a failure then fails only the
    queries (as SYSTEM errors), not the whole local cloud.
    """

    def __init__(self, settings: K2Settings) -> None:
        self._settings = settings
        self._catalog: GlueCatalog | None = None
        self._lock = threading.Lock()

    def _glue_catalog(self) -> GlueCatalog:
        with self._lock:
            if self._catalog is None:
                self._catalog = glue_catalog(self._settings)
            return self._catalog

    def __call__(self, sql: str, *, database: str, cancelled: threading.Event) -> QueryResult:
        from k2.query.athena_execution import (
            AthenaQueryCancelled,
            AthenaQueryError,
            run_athena_query,
        )

        try:
            return run_athena_query(
                sql, database=database, catalog=self._glue_catalog(), cancelled=cancelled
            )
        except AthenaQueryCancelled as cancelled_error:
            raise QueryCancelled from cancelled_error
        except AthenaQueryError as error:
            raise QueryFailure(
                error.error_category, error.error_type, error.message, error.retryable
            ) from error


class _S3ResultWriter:
    """Writes the CSV and its metadata with boto3 through the settings' endpoint (this server),
    as Athena writes them to S3."""

    def __init__(self, settings: K2Settings) -> None:
        self._s3 = aws_client("s3", settings)

    def __call__(self, output_location: str, query_execution_id: str, result: QueryResult) -> None:
        from k2.local.athena_results import write_results
        from k2.query.athena_execution import AthenaResult

        if not isinstance(result, AthenaResult):
            raise TypeError(f"not an engine result: {type(result).__name__}")
        write_results(self._s3, output_location, query_execution_id, result)


def _backend(response: AthenaResponse) -> AthenaBackend:
    return athena_backends[response.current_account][response.region]


def _store(backend: AthenaBackend) -> ExecutionStore:
    global _engine, _result_writer
    with _stores_lock:
        store = _stores.get(backend)
        if store is None:
            if _engine is None or _result_writer is None:
                settings = K2Settings()
                _engine, _result_writer = _LakeEngine(settings), _S3ResultWriter(settings)
            store = _stores[backend] = ExecutionStore(_engine, _result_writer, _pool)
        return store


# --- work groups -------------------------------------------------------------------------------


def _work_group(backend: AthenaBackend, name: str) -> WorkGroup:
    work_group = backend.work_groups.get(name)
    if work_group is None:
        raise InvalidRequestException(f"WorkGroup {name} is not found.")
    return work_group


def _creation_time(work_group: WorkGroup) -> float:
    return _creation_times.setdefault(work_group, time.time())


def _engine_version(work_group: WorkGroup) -> dict[str, str]:
    selected = (work_group.configuration.get("EngineVersion") or {}).get(
        "SelectedEngineVersion", "AUTO"
    )
    return {"SelectedEngineVersion": selected, "EffectiveEngineVersion": ENGINE_VERSION}


def create_work_group(self: AthenaResponse) -> str:
    backend = _backend(self)
    name = self._get_param("Name")
    configuration = dict(self._get_param("Configuration") or {})
    if name in backend.work_groups:
        raise InvalidRequestException("WorkGroup is already created")
    work_group = backend.create_work_group(
        name, configuration, self._get_param("Description") or "", self._get_param("Tags") or []
    )
    if work_group is not None:
        work_group.configuration["EngineVersion"] = _engine_version(work_group)
        _creation_time(work_group)
    return "{}"


def get_work_group(self: AthenaResponse) -> str:
    work_group = _work_group(_backend(self), self._get_param("WorkGroup"))
    configuration = dict(work_group.configuration)
    configuration["EngineVersion"] = _engine_version(work_group)
    return json.dumps(
        {
            "WorkGroup": {
                "Name": work_group.name,
                "State": work_group.state,
                "Configuration": configuration,
                "Description": work_group.description or "",
                "CreationTime": _creation_time(work_group),
            }
        }
    )


def list_work_groups(self: AthenaResponse) -> str:
    work_groups = sorted(_backend(self).work_groups.values(), key=lambda wg: wg.name)
    summaries = [
        {
            "Name": work_group.name,
            "State": work_group.state,
            "Description": work_group.description or "",
            "CreationTime": _creation_time(work_group),
            "EngineVersion": _engine_version(work_group),
        }
        for work_group in work_groups
    ]
    page, next_token = _list_page(self, summaries, "work-groups")
    return json.dumps({"WorkGroups": page, **next_token})


# --- named queries -----------------------------------------------------------------------------


def _named_query_dict(named_query: NamedQuery) -> dict[str, str]:
    return {
        "Name": named_query.name,
        "Description": named_query.description or "",
        "Database": named_query.database,
        "QueryString": named_query.query_string,
        "NamedQueryId": named_query.id,
        "WorkGroup": named_query.workgroup.name,
    }


def _named_query(backend: AthenaBackend, named_query_id: str) -> NamedQuery:
    named_query = backend.named_queries.get(named_query_id)
    if named_query is None:
        raise InvalidRequestException(f"NamedQuery {named_query_id} was not found")
    return named_query


def create_named_query(self: AthenaResponse) -> str:
    backend = _backend(self)
    work_group = _work_group(backend, self._get_param("WorkGroup") or PRIMARY_WORK_GROUP)
    named_query_id = backend.create_named_query(
        self._get_param("Name"),
        self._get_param("Description") or "",
        self._get_param("Database"),
        self._get_param("QueryString"),
        work_group.name,
    )
    return json.dumps({"NamedQueryId": named_query_id})


def get_named_query(self: AthenaResponse) -> str:
    named_query = _named_query(_backend(self), self._get_param("NamedQueryId"))
    return json.dumps({"NamedQuery": _named_query_dict(named_query)})


def _batch_get(
    ids: list[str], lookup: Callable[[str], dict[str, Any] | None], kind: str
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Athena's BatchGet* answer: what was found, and ``INVALID_INPUT`` for each unknown id."""
    found, unprocessed = [], []
    for item_id in ids:
        item = lookup(item_id)
        if item is None:
            unprocessed.append(
                {
                    f"{kind}Id": item_id,
                    "ErrorCode": "INVALID_INPUT",
                    "ErrorMessage": f"{kind} {item_id} was not found",
                }
            )
        else:
            found.append(item)
    return found, unprocessed


def batch_get_named_query(self: AthenaResponse) -> str:
    backend = _backend(self)

    def lookup(named_query_id: str) -> dict[str, Any] | None:
        named_query = backend.named_queries.get(named_query_id)
        return None if named_query is None else _named_query_dict(named_query)

    found, unprocessed = _batch_get(self._get_param("NamedQueryIds") or [], lookup, "NamedQuery")
    return json.dumps({"NamedQueries": found, "UnprocessedNamedQueryIds": unprocessed})


def delete_named_query(self: AthenaResponse) -> str:
    backend = _backend(self)
    named_query = _named_query(backend, self._get_param("NamedQueryId"))
    backend.named_queries.pop(named_query.id, None)
    return "{}"


def list_named_queries(self: AthenaResponse) -> str:
    backend = _backend(self)
    work_group = _work_group(backend, self._get_param("WorkGroup") or PRIMARY_WORK_GROUP)
    ids = [q.id for q in backend.named_queries.values() if q.workgroup.name == work_group.name]
    page, next_token = _list_page(self, ids, f"named-queries/{work_group.name}")
    return json.dumps({"NamedQueryIds": page, **next_token})


# --- query executions --------------------------------------------------------------------------


def _result_configuration(
    work_group: WorkGroup, requested: dict[str, Any] | None
) -> dict[str, Any]:
    """The request's settings over the work group's, unless the work group enforces its own."""
    configuration = work_group.configuration
    defaults = dict(configuration.get("ResultConfiguration") or {})
    enforced = bool(configuration.get("EnforceWorkGroupConfiguration")) and bool(
        defaults.get("OutputLocation")
    )
    return defaults if enforced else {**defaults, **(requested or {})}


def start_query_execution(self: AthenaResponse) -> str:
    backend = _backend(self)
    store = _store(backend)
    query = self._get_param("QueryString") or ""
    work_group = _work_group(backend, self._get_param("WorkGroup") or PRIMARY_WORK_GROUP)
    if work_group.state != "ENABLED":
        raise InvalidRequestException(f"WorkGroup {work_group.name} is disabled.")
    context = dict(self._get_param("QueryExecutionContext") or {})
    parameters = self._get_param("ExecutionParameters")
    token = self._get_param("ClientRequestToken")

    result_configuration = _result_configuration(work_group, self._get_param("ResultConfiguration"))
    location = result_configuration.get("OutputLocation")
    if not location:
        raise InvalidRequestException(NO_OUTPUT_LOCATION)
    if not athena_statements.is_s3_location(location):
        raise InvalidRequestException("outputLocation is not a valid S3 path.")

    if token is not None and (earlier := store.first_with_token(token)) is not None:
        same = (earlier.query, earlier.work_group, earlier.query_execution_context) == (
            query,
            work_group.name,
            context,
        ) and earlier.execution_parameters == parameters
        if not same:
            raise InvalidRequestException(
                "Idempotent parameters do not match", "IDEMPOTENT_PARAMETER_MISMATCH"
            )
        return json.dumps({"QueryExecutionId": earlier.query_execution_id})

    try:
        sql = athena_statements.bind_execution_parameters(query, parameters)
    except athena_statements.ParameterCountError as error:
        raise InvalidRequestException(str(error)) from error
    malformed = athena_statements.syntax_error(sql)
    if malformed is not None:
        raise InvalidRequestException(malformed, "MALFORMED_QUERY")

    query_execution_id = str(uuid.uuid4())
    kind = athena_statements.classify(query)
    result_configuration["OutputLocation"] = athena_statements.result_file(
        location, query_execution_id
    )
    execution = Execution(
        query_execution_id=query_execution_id,
        query=query,
        sql=sql,
        work_group=work_group.name,
        database=context.get("Database") or DEFAULT_DATABASE,
        query_execution_context=context,
        output_location=location,
        result_configuration=result_configuration,
        engine_version=_engine_version(work_group),
        statement_type=kind.statement_type,
        substatement_type=kind.substatement_type,
        has_header_row=kind.has_header_row,
        execution_parameters=parameters,
        client_request_token=token,
    )
    return json.dumps({"QueryExecutionId": store.submit(execution)})


def _execution(store: ExecutionStore, query_execution_id: str) -> Execution:
    execution = store.snapshot(query_execution_id)
    if execution is None:
        raise InvalidRequestException(f"QueryExecution {query_execution_id} was not found")
    return execution


def _millis(start: float | None, end: float | None) -> int:
    if start is None:
        return 0
    return max(0, round(((end if end is not None else time.time()) - start) * 1000))


def query_execution_dict(execution: Execution) -> dict[str, Any]:
    """``QueryExecution`` as GetQueryExecution and BatchGetQueryExecution return it."""
    status: dict[str, Any] = {
        "State": execution.state,
        "SubmissionDateTime": execution.submitted_at,
    }
    if execution.completed_at is not None:
        status["CompletionDateTime"] = execution.completed_at
    if execution.state_change_reason:
        status["StateChangeReason"] = execution.state_change_reason
    if execution.athena_error is not None:
        error = execution.athena_error
        status["AthenaError"] = {
            "ErrorCategory": error.error_category,
            "ErrorType": error.error_type,
            "Retryable": error.retryable,
            "ErrorMessage": error.message,
        }
    queued_until = execution.started_at or execution.completed_at
    statistics = {
        "EngineExecutionTimeInMillis": _millis(
            execution.started_at, execution.engine_done_at or execution.completed_at
        ),
        "DataScannedInBytes": execution.data_scanned_bytes,
        "TotalExecutionTimeInMillis": _millis(execution.submitted_at, execution.completed_at),
        "QueryQueueTimeInMillis": _millis(execution.submitted_at, queued_until),
        "ServicePreProcessingTimeInMillis": 0,
        "QueryPlanningTimeInMillis": 0,
        "ServiceProcessingTimeInMillis": _millis(execution.engine_done_at, execution.completed_at),
        "ResultReuseInformation": {"ReusedPreviousResult": False},
    }
    described: dict[str, Any] = {
        "QueryExecutionId": execution.query_execution_id,
        "Query": execution.query,
        "StatementType": execution.statement_type,
        "SubstatementType": execution.substatement_type,
        "ResultConfiguration": execution.result_configuration,
        "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
        "Status": status,
        "Statistics": statistics,
        "WorkGroup": execution.work_group,
        "EngineVersion": execution.engine_version,
    }
    if execution.query_execution_context:
        described["QueryExecutionContext"] = execution.query_execution_context
    if execution.execution_parameters is not None:
        described["ExecutionParameters"] = execution.execution_parameters
    return described


def get_query_execution(self: AthenaResponse) -> str:
    store = _store(_backend(self))
    execution = _execution(store, self._get_param("QueryExecutionId"))
    return json.dumps({"QueryExecution": query_execution_dict(execution)})


def batch_get_query_execution(self: AthenaResponse) -> str:
    store = _store(_backend(self))

    def lookup(query_execution_id: str) -> dict[str, Any] | None:
        execution = store.snapshot(query_execution_id)
        return None if execution is None else query_execution_dict(execution)

    found, unprocessed = _batch_get(
        self._get_param("QueryExecutionIds") or [], lookup, "QueryExecution"
    )
    return json.dumps({"QueryExecutions": found, "UnprocessedQueryExecutionIds": unprocessed})


def list_query_executions(self: AthenaResponse) -> str:
    backend = _backend(self)
    work_group = _work_group(backend, self._get_param("WorkGroup") or PRIMARY_WORK_GROUP)
    ids = _store(backend).ids(work_group.name)
    page, next_token = _list_page(self, ids, f"query-executions/{work_group.name}")
    return json.dumps({"QueryExecutionIds": page, **next_token})


def stop_query_execution(self: AthenaResponse) -> str:
    store = _store(_backend(self))
    execution = _execution(store, self._get_param("QueryExecutionId"))
    store.stop(execution.query_execution_id)
    return "{}"


def get_query_results(self: AthenaResponse) -> str:
    store = _store(_backend(self))
    execution = _execution(store, self._get_param("QueryExecutionId"))
    if execution.state != SUCCEEDED or execution.result is None:
        if execution.state_change_reason:
            raise InvalidRequestException(execution.state_change_reason)
        raise InvalidRequestException(
            f"Query has not yet finished. Current state: {execution.state}"
        )
    result = execution.result
    max_results = min(int(self._get_param("MaxResults") or MAX_RESULTS), MAX_RESULTS)
    token = self._get_param("NextToken")
    offset = 0
    if token is not None:
        found = athena_statements.token_offset(token, execution.query_execution_id)
        if found is None:
            raise InvalidRequestException("The NextToken is not valid for this query.")
        offset = found

    header = [column.name for column in result.columns] if execution.has_header_row else None
    total = len(result.rows) + (1 if header is not None else 0)
    rows = []
    for index in range(offset, min(offset + max_results, total)):
        if header is not None:
            values = header if index == 0 else result.rows[index - 1]
        else:
            values = result.rows[index]
        rows.append({"Data": [{} if v is None else {"VarCharValue": v} for v in values]})
    column_info = [athena_results.column_info(column) for column in result.columns]
    answer: dict[str, Any] = {
        "UpdateCount": 0,
        "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": column_info}},
    }
    if offset + max_results < total:
        answer["NextToken"] = athena_statements.page_token(
            execution.query_execution_id, offset + max_results
        )
    return json.dumps(answer)


# --- shared ------------------------------------------------------------------------------------


def _list_page(
    response: AthenaResponse, items: list[Any], listing: str
) -> tuple[list[Any], dict[str, str]]:
    """One page of a listing and, if more remain, ``{"NextToken": ...}``."""
    max_results = min(int(response._get_param("MaxResults") or MAX_LISTED), MAX_LISTED)
    token = response._get_param("NextToken")
    offset = 0
    if token is not None:
        found = athena_statements.token_offset(token, listing)
        if found is None:
            raise InvalidRequestException("The NextToken is not valid for this listing.")
        offset = found
    page = items[offset : offset + max_results]
    if offset + max_results < len(items):
        return page, {"NextToken": athena_statements.page_token(listing, offset + max_results)}
    return page, {}


HANDLERS = {
    handler.__name__: handler
    for handler in (
        create_work_group,
        get_work_group,
        list_work_groups,
        create_named_query,
        get_named_query,
        batch_get_named_query,
        delete_named_query,
        list_named_queries,
        start_query_execution,
        get_query_execution,
        batch_get_query_execution,
        list_query_executions,
        stop_query_execution,
        get_query_results,
    )
}
"""moto dispatches an action to the response method named after it in snake case."""


def apply() -> None:
    """Install the handlers on moto's Athena response class; idempotent."""
    for name, handler in HANDLERS.items():
        setattr(AthenaResponse, name, handler)
