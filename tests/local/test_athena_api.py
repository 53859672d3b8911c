"""The Athena JSON API of the local AWS endpoint, through plain boto3 and pyathena.

Every query runs for real: DuckDB over an Iceberg table this module writes with pyiceberg into
its own Glue database, so the expected rows are the ones written here, not anything the endpoint
computed.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from botocore.exceptions import ClientError
from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import DecimalType, LongType, NestedField, StringType

from k2.domain.markets import Exchange
from k2.lake.catalog import glue_catalog
from k2.local.cloud import LocalCloud
from k2.query.named_queries import named_queries
from k2.settings import K2Settings

pytestmark = pytest.mark.integration

DATABASE = "athena_api_tests"
TABLE = "numbers"
ROWS = 12_345
DEADLINE_S = 120.0
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


def _name(i: int) -> str:
    return f"row-{i:05d}"


def _note(i: int) -> str | None:
    return None if i % 7 == 0 else f'note "{i}", with a comma'


def _price(i: int) -> Decimal:
    return Decimal(i) / Decimal(8)  # exact at 3 decimals, printed with the column's 8


EXPECTED_ROWS = [(str(i), _name(i), _note(i)) for i in range(ROWS)]
"""``SELECT id, name, note ... ORDER BY id`` as Athena's VarCharValues (None: SQL NULL)."""


@pytest.fixture(scope="module")
def catalog(k2_settings: K2Settings) -> GlueCatalog:
    return glue_catalog(k2_settings)


@pytest.fixture(scope="module")
def numbers(catalog: GlueCatalog) -> Iterator[Table]:
    catalog.create_namespace_if_not_exists(DATABASE)
    schema = Schema(
        NestedField(1, "id", LongType(), required=True),
        NestedField(2, "name", StringType(), required=True),
        NestedField(3, "note", StringType(), required=False),
        NestedField(4, "price", DecimalType(18, 8), required=True),
    )
    table = catalog.create_table((DATABASE, TABLE), schema)
    arrow = pa.table(
        {
            "id": pa.array(range(ROWS), pa.int64()),
            "name": pa.array([_name(i) for i in range(ROWS)], pa.string()),
            "note": pa.array([_note(i) for i in range(ROWS)], pa.string()),
            "price": pa.array([_price(i) for i in range(ROWS)], pa.decimal128(18, 8)),
        },
        schema=schema.as_arrow(),
    )
    table.append(arrow)
    yield catalog.load_table((DATABASE, TABLE))
    catalog.drop_table((DATABASE, TABLE))


@pytest.fixture(scope="module")
def athena(local_cloud: LocalCloud) -> Any:
    return local_cloud.layout.aws_client("athena")


@pytest.fixture(scope="module")
def s3(local_cloud: LocalCloud) -> Any:
    return local_cloud.layout.aws_client("s3")


@pytest.fixture(scope="module")
def output(k2_settings: K2Settings) -> str:
    return f"s3://{k2_settings.athena_results_bucket}/api-tests/"


def _start(athena: Any, sql: str, output: str | None, **extra: Any) -> str:
    request: dict[str, Any] = {
        "QueryString": sql,
        "QueryExecutionContext": {"Database": DATABASE},
        **extra,
    }
    if output is not None:
        request["ResultConfiguration"] = {"OutputLocation": output}
    return str(athena.start_query_execution(**request)["QueryExecutionId"])


def _wait(athena: Any, query_id: str, states: set[str] = TERMINAL) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        execution: dict[str, Any] = athena.get_query_execution(QueryExecutionId=query_id)[
            "QueryExecution"
        ]
        if execution["Status"]["State"] in states:
            return execution
        time.sleep(0.05)
    raise AssertionError(f"query {query_id} did not reach {sorted(states)} in {DEADLINE_S}s")


def _run(athena: Any, sql: str, output: str | None, **extra: Any) -> dict[str, Any]:
    return _wait(athena, _start(athena, sql, output, **extra))


def _values(row: dict[str, Any]) -> tuple[str | None, ...]:
    return tuple(datum.get("VarCharValue") for datum in row["Data"])


def _error_message(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Message"])


# --- the life of a query ------------------------------------------------------------------------


def test_a_select_runs_to_succeeded_with_athenas_execution_details(
    athena: Any, numbers: Table, output: str
) -> None:
    sql = f"SELECT id, name FROM {TABLE} WHERE id < 3 ORDER BY id"
    query_id = _start(athena, sql, output)
    execution = _wait(athena, query_id)

    assert execution["QueryExecutionId"] == query_id
    assert execution["Query"] == sql
    status = execution["Status"]
    assert status["State"] == "SUCCEEDED"
    assert "AthenaError" not in status and "StateChangeReason" not in status
    assert status["SubmissionDateTime"] <= status["CompletionDateTime"]
    assert execution["StatementType"] == "DML"
    assert execution["SubstatementType"] == "SELECT"
    assert execution["WorkGroup"] == "primary"
    assert execution["QueryExecutionContext"] == {"Database": DATABASE}
    assert execution["EngineVersion"]["EffectiveEngineVersion"] == "Athena engine version 3"
    assert execution["ResultConfiguration"]["OutputLocation"] == f"{output}{query_id}.csv"
    statistics = execution["Statistics"]
    assert statistics["DataScannedInBytes"] > 0
    for timing in (
        "EngineExecutionTimeInMillis",
        "TotalExecutionTimeInMillis",
        "QueryQueueTimeInMillis",
    ):
        assert statistics[timing] >= 0
    assert statistics["TotalExecutionTimeInMillis"] >= statistics["EngineExecutionTimeInMillis"]

    results = athena.get_query_results(QueryExecutionId=query_id)
    rows = [_values(row) for row in results["ResultSet"]["Rows"]]
    assert rows == [("id", "name"), ("0", _name(0)), ("1", _name(1)), ("2", _name(2))]
    assert "NextToken" not in results


def test_column_metadata_is_typed(athena: Any, numbers: Table, output: str) -> None:
    execution = _run(athena, f"SELECT id, name, note, price FROM {TABLE} WHERE id = 10", output)
    results = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    columns = results["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]
    # Athena's types and precisions: bigint 19 digits, varchar unbounded, decimal as declared.
    assert [(c["Name"], c["Label"], c["Type"], c["Precision"], c["Scale"]) for c in columns] == [
        ("id", "id", "bigint", 19, 0),
        ("name", "name", "varchar", 2147483647, 0),
        ("note", "note", "varchar", 2147483647, 0),
        ("price", "price", "decimal", 18, 8),
    ]
    assert all(c["Nullable"] in {"UNKNOWN", "NULLABLE", "NOT_NULL"} for c in columns)
    assert all(c["CaseSensitive"] is False for c in columns[:1])
    rows = [_values(row) for row in results["ResultSet"]["Rows"]]
    assert rows[1] == ("10", _name(10), _note(10), "1.25000000")


def test_null_is_a_datum_without_a_value(athena: Any, numbers: Table, output: str) -> None:
    execution = _run(athena, f"SELECT note FROM {TABLE} WHERE id = 14", output)
    results = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert results["ResultSet"]["Rows"][1] == {"Data": [{}]}


# --- paging -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def all_rows_query(athena: Any, numbers: Table, output: str) -> str:
    execution = _run(athena, f"SELECT id, name, note FROM {TABLE} ORDER BY id", output)
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    return str(execution["QueryExecutionId"])


def test_paging_with_max_results_returns_every_row_once(athena: Any, all_rows_query: str) -> None:
    pages: list[list[tuple[str | None, ...]]] = []
    token: str | None = None
    while True:
        request: dict[str, Any] = {"QueryExecutionId": all_rows_query, "MaxResults": 1000}
        if token:
            request["NextToken"] = token
        response = athena.get_query_results(**request)
        pages.append([_values(row) for row in response["ResultSet"]["Rows"]])
        token = response.get("NextToken")
        if not token:
            break

    assert all(len(page) == 1000 for page in pages[:-1])
    assert len(pages) == -(-(ROWS + 1) // 1000)  # the header row is the first of the first page
    assert pages[0][0] == ("id", "name", "note")
    assert all(("id", "name", "note") not in page for page in pages[1:])
    assert [row for page in pages for row in page][1:] == EXPECTED_ROWS


def test_the_boto3_paginator_returns_every_row_once(athena: Any, all_rows_query: str) -> None:
    paginator = athena.get_paginator("get_query_results")
    pages = [
        [_values(row) for row in page["ResultSet"]["Rows"]]
        for page in paginator.paginate(
            QueryExecutionId=all_rows_query, PaginationConfig={"PageSize": 777}
        )
    ]
    assert pages[0][0] == ("id", "name", "note")
    assert all(len(page) == 777 for page in pages[:-1])
    assert [row for page in pages for row in page][1:] == EXPECTED_ROWS


def test_a_foreign_next_token_is_refused(athena: Any, all_rows_query: str, output: str) -> None:
    token = athena.get_query_results(QueryExecutionId=all_rows_query, MaxResults=10)["NextToken"]
    other = _run(athena, f"SELECT id FROM {TABLE}", output)["QueryExecutionId"]
    with pytest.raises(athena.exceptions.InvalidRequestException):
        athena.get_query_results(QueryExecutionId=other, NextToken=token)


def test_the_csv_in_s3_holds_the_header_and_every_row(
    athena: Any, s3: Any, all_rows_query: str
) -> None:
    execution = athena.get_query_execution(QueryExecutionId=all_rows_query)["QueryExecution"]
    location = execution["ResultConfiguration"]["OutputLocation"]
    bucket, key = location.removeprefix("s3://").split("/", 1)
    assert key.endswith(f"/{all_rows_query}.csv")
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    records = list(csv.reader(io.StringIO(text)))
    assert records[0] == ["id", "name", "note"]
    # Athena's CSV: every value quoted, NULL an empty unquoted field.
    assert records[1:] == [[i, n, "" if note is None else note] for i, n, note in EXPECTED_ROWS]
    assert text.splitlines()[1] == '"0","row-00000",'
    metadata = s3.get_object(Bucket=bucket, Key=f"{key}.metadata")["Body"].read()
    assert metadata


# --- stopping and failing -----------------------------------------------------------------------


SLOW_SQL = (
    f"SELECT count(*) FROM {TABLE} a CROSS JOIN {TABLE} b "
    f"CROSS JOIN (SELECT id FROM {TABLE} LIMIT 1000) c WHERE a.id + b.id + c.id < 0"
)
"""1.5e11 row combinations: minutes of work unless stopped."""


def test_stopping_a_running_query_cancels_it(athena: Any, numbers: Table, output: str) -> None:
    query_id = _start(athena, SLOW_SQL, output)
    running = _wait(athena, query_id, {"RUNNING", *TERMINAL})
    assert running["Status"]["State"] == "RUNNING"

    with pytest.raises(athena.exceptions.InvalidRequestException) as not_finished:
        athena.get_query_results(QueryExecutionId=query_id)
    assert _error_message(not_finished) == "Query has not yet finished. Current state: RUNNING"

    athena.stop_query_execution(QueryExecutionId=query_id)
    execution = _wait(athena, query_id)
    assert execution["Status"]["State"] == "CANCELLED"
    assert "CompletionDateTime" in execution["Status"]
    athena.stop_query_execution(QueryExecutionId=query_id)  # idempotent
    assert _wait(athena, query_id)["Status"]["State"] == "CANCELLED"
    # The engine let go of the query: new queries still run to the end.
    for _ in range(3):
        assert _run(athena, "SELECT 1", output)["Status"]["State"] == "SUCCEEDED"


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT no_such_column FROM {TABLE}",
        "SELECT * FROM no_such_table",
        f"SELECT name + 1 FROM {TABLE}",
    ],
)
def test_invalid_sql_fails_with_athenas_error_shape(
    athena: Any, numbers: Table, output: str, sql: str
) -> None:
    execution = _run(athena, sql, output)
    status = execution["Status"]
    assert status["State"] == "FAILED"
    error = status["AthenaError"]
    assert error["ErrorCategory"] == 2  # USER
    assert error["ErrorType"] >= 1000  # the user error types of the Athena error catalog
    assert error["Retryable"] is False
    assert status["StateChangeReason"] == error["ErrorMessage"]
    assert status["StateChangeReason"]
    with pytest.raises(athena.exceptions.InvalidRequestException) as refused:
        athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    assert _error_message(refused) == status["StateChangeReason"]


@pytest.mark.parametrize(
    "sql",
    [
        f"INSERT INTO {TABLE} VALUES (1, 'x', NULL, 1)",
        f"CREATE TABLE copied AS SELECT * FROM {TABLE}",
        f"DROP TABLE {TABLE}",
        f"DELETE FROM {TABLE}",
    ],
)
def test_a_write_statement_is_refused_and_the_table_is_unchanged(
    athena: Any, catalog: GlueCatalog, numbers: Table, output: str, sql: str
) -> None:
    before = catalog.load_table((DATABASE, TABLE)).metadata.current_snapshot_id
    execution = _run(athena, sql, output)
    assert execution["Status"]["State"] == "FAILED"
    assert execution["Status"]["AthenaError"]["ErrorCategory"] == 2
    assert catalog.load_table((DATABASE, TABLE)).metadata.current_snapshot_id == before
    assert not catalog.table_exists((DATABASE, "copied"))
    count = _run(athena, f"SELECT count(*) FROM {TABLE}", output)
    rows = athena.get_query_results(QueryExecutionId=count["QueryExecutionId"])["ResultSet"]
    assert _values(rows["Rows"][1]) == (str(ROWS),)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC 1", "line 1:7: "),
        (f"SELECT id FROM {TABLE} WHERE", "line 1:"),
        ("SELECT 1; SELECT 2", "Only one sql statement is allowed."),
    ],
)
def test_sql_that_does_not_parse_is_refused_before_it_starts(
    athena: Any, output: str, sql: str, message: str
) -> None:
    before = set(athena.list_query_executions(MaxResults=50)["QueryExecutionIds"])
    with pytest.raises(athena.exceptions.InvalidRequestException) as refused:
        _start(athena, sql, output)
    assert _error_message(refused).startswith(message)
    assert refused.value.response["AthenaErrorCode"] == "MALFORMED_QUERY"
    assert set(athena.list_query_executions(MaxResults=50)["QueryExecutionIds"]) == before


def test_an_engine_crash_fails_the_query_as_a_system_error(
    athena: Any, local_cloud: LocalCloud, k2_settings: K2Settings, output: str
) -> None:
    # A Glue table that claims to be Iceberg but whose metadata file does not exist: loading it
    # fails inside pyiceberg with an I/O error, not with anything a user wrote.
    glue = local_cloud.layout.aws_client("glue")
    glue.create_database(DatabaseInput={"Name": "athena_api_broken"})
    glue.create_table(
        DatabaseName="athena_api_broken",
        TableInput={
            "Name": "broken",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "table_type": "ICEBERG",
                "metadata_location": f"s3://{k2_settings.lake_bucket}/nowhere/v1.metadata.json",
            },
        },
    )
    execution = _run(athena, "SELECT * FROM athena_api_broken.broken", output)
    status = execution["Status"]
    assert status["State"] == "FAILED"
    assert status["AthenaError"]["ErrorCategory"] == 1  # SYSTEM
    assert status["StateChangeReason"] == status["AthenaError"]["ErrorMessage"]
    with pytest.raises(athena.exceptions.InvalidRequestException):
        athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])
    # The endpoint is unharmed.
    assert _run(athena, "SELECT 1", output)["Status"]["State"] == "SUCCEEDED"


def test_more_queries_than_workers_queue_and_all_finish(
    athena: Any, numbers: Table, output: str
) -> None:
    started = [_start(athena, f"SELECT count(*) + {i} FROM {TABLE}", output) for i in range(6)]
    for i, query_id in enumerate(started):
        execution = _wait(athena, query_id)
        assert execution["Status"]["State"] == "SUCCEEDED"
        rows = athena.get_query_results(QueryExecutionId=query_id)["ResultSet"]["Rows"]
        assert _values(rows[1]) == (str(ROWS + i),)


def test_execution_parameters_are_bound_to_the_placeholders(
    athena: Any, numbers: Table, output: str
) -> None:
    execution = _run(
        athena,
        f"SELECT name FROM {TABLE} WHERE id = ? OR name = ? ORDER BY id",
        output,
        ExecutionParameters=["42", "'row-00043'"],
    )
    assert execution["ExecutionParameters"] == ["42", "'row-00043'"]
    rows = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])["ResultSet"]
    assert [_values(row) for row in rows["Rows"]] == [("name",), (_name(42),), (_name(43),)]
    with pytest.raises(athena.exceptions.InvalidRequestException):
        _start(athena, "SELECT ?", output)


def test_unknown_query_ids_are_invalid_requests(athena: Any) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    for call in (
        athena.get_query_execution,
        athena.get_query_results,
        athena.stop_query_execution,
    ):
        with pytest.raises(athena.exceptions.InvalidRequestException):
            call(QueryExecutionId=missing)


# --- work groups and output locations ------------------------------------------------------------


def test_an_unknown_work_group_is_an_invalid_request(athena: Any, output: str) -> None:
    with pytest.raises(athena.exceptions.InvalidRequestException) as refused:
        _start(athena, "SELECT 1", output, WorkGroup="no-such-work-group")
    assert "no-such-work-group" in _error_message(refused)
    with pytest.raises(athena.exceptions.InvalidRequestException):
        athena.get_work_group(WorkGroup="no-such-work-group")


def test_no_output_location_is_an_invalid_request(athena: Any) -> None:
    # The primary work group has no result location, like a fresh AWS account's.
    with pytest.raises(athena.exceptions.InvalidRequestException) as refused:
        _start(athena, "SELECT 1", None)
    assert _error_message(refused).startswith("No output location provided.")
    with pytest.raises(athena.exceptions.InvalidRequestException):
        _start(athena, "SELECT 1", "/tmp/not-s3")


def test_the_work_groups_output_location_is_used_and_enforced(
    athena: Any, s3: Any, k2_settings: K2Settings, output: str
) -> None:
    bucket = k2_settings.athena_results_bucket
    athena.create_work_group(
        Name="api-tests-default",
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/wg-default/"},
            "EnforceWorkGroupConfiguration": False,
        },
    )
    athena.create_work_group(
        Name="api-tests-enforced",
        Configuration={
            "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/wg-enforced/"},
            "EnforceWorkGroupConfiguration": True,
        },
    )
    defaulted = _run(athena, "SELECT 1", None, WorkGroup="api-tests-default")
    overridden = _run(athena, "SELECT 1", output, WorkGroup="api-tests-default")
    enforced = _run(athena, "SELECT 1", output, WorkGroup="api-tests-enforced")

    def location(execution: dict[str, Any]) -> str:
        return str(execution["ResultConfiguration"]["OutputLocation"])

    assert location(defaulted) == f"s3://{bucket}/wg-default/{defaulted['QueryExecutionId']}.csv"
    assert location(overridden) == f"{output}{overridden['QueryExecutionId']}.csv"
    assert location(enforced) == f"s3://{bucket}/wg-enforced/{enforced['QueryExecutionId']}.csv"
    for execution in (defaulted, overridden, enforced):
        assert execution["Status"]["State"] == "SUCCEEDED"
        key = location(execution).removeprefix(f"s3://{bucket}/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        assert body.splitlines()[1] == '"1"'

    with pytest.raises(athena.exceptions.InvalidRequestException):
        athena.create_work_group(Name="api-tests-default")


def test_query_executions_are_listed_per_work_group_and_paged(athena: Any, output: str) -> None:
    athena.create_work_group(Name="api-tests-listing", Configuration={})
    started = [
        _start(athena, f"SELECT {i}", output, WorkGroup="api-tests-listing") for i in range(5)
    ]
    for query_id in started:
        _wait(athena, query_id)

    listed: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        request: dict[str, Any] = {"WorkGroup": "api-tests-listing", "MaxResults": 2}
        if token:
            request["NextToken"] = token
        response = athena.list_query_executions(**request)
        listed += response["QueryExecutionIds"]
        pages += 1
        token = response.get("NextToken")
        if not token:
            break
    assert pages == 3
    assert listed == list(reversed(started))  # newest first
    primary = athena.list_query_executions()["QueryExecutionIds"]
    assert not set(primary) & set(started)

    batch = athena.batch_get_query_execution(QueryExecutionIds=[*started[:2], "unknown-id"])
    assert {e["QueryExecutionId"] for e in batch["QueryExecutions"]} == set(started[:2])
    assert all(e["WorkGroup"] == "api-tests-listing" for e in batch["QueryExecutions"])
    assert [u["QueryExecutionId"] for u in batch["UnprocessedQueryExecutionIds"]] == ["unknown-id"]


# --- named queries ------------------------------------------------------------------------------


def test_named_queries_are_created_read_listed_and_deleted(athena: Any) -> None:
    athena.create_work_group(Name="api-tests-named", Configuration={})
    created = [
        athena.create_named_query(
            Name=f"query-{i}",
            Description=f"number {i}",
            Database=DATABASE,
            QueryString=f"SELECT {i}",
            WorkGroup="api-tests-named",
        )["NamedQueryId"]
        for i in range(3)
    ]
    named = athena.get_named_query(NamedQueryId=created[1])["NamedQuery"]
    assert named == {
        "Name": "query-1",
        "Description": "number 1",
        "Database": DATABASE,
        "QueryString": "SELECT 1",
        "NamedQueryId": created[1],
        "WorkGroup": "api-tests-named",
    }
    listed = [
        named_id
        for page in athena.get_paginator("list_named_queries").paginate(
            WorkGroup="api-tests-named", PaginationConfig={"PageSize": 2}
        )
        for named_id in page["NamedQueryIds"]
    ]
    assert sorted(listed) == sorted(created)
    batch = athena.batch_get_named_query(NamedQueryIds=[*created, "unknown-id"])
    assert sorted(q["Name"] for q in batch["NamedQueries"]) == ["query-0", "query-1", "query-2"]
    assert [u["NamedQueryId"] for u in batch["UnprocessedNamedQueryIds"]] == ["unknown-id"]

    athena.delete_named_query(NamedQueryId=created[0])
    with pytest.raises(athena.exceptions.InvalidRequestException):
        athena.get_named_query(NamedQueryId=created[0])
    remaining = athena.list_named_queries(WorkGroup="api-tests-named")["NamedQueryIds"]
    assert sorted(remaining) == sorted(created[1:])


def test_the_local_cloud_provisions_the_research_work_group_like_the_cdk_stack(
    athena: Any, local_cloud: LocalCloud, k2_settings: K2Settings
) -> None:
    local_cloud.provision()  # again, as every `k2 local up` does: nothing is duplicated
    names = {wg["Name"] for wg in athena.list_work_groups()["WorkGroups"]}
    assert {"primary", k2_settings.athena_workgroup} <= names
    assert k2_settings.athena_workgroup == f"k2-{k2_settings.environment}-research"
    work_group = athena.get_work_group(WorkGroup=k2_settings.athena_workgroup)["WorkGroup"]
    configuration = work_group["Configuration"]
    assert configuration["ResultConfiguration"]["OutputLocation"] == (
        f"s3://{k2_settings.athena_results_bucket}/results/"
    )
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["EngineVersion"]["SelectedEngineVersion"] == "Athena engine version 3"
    assert work_group["State"] == "ENABLED"

    ids = athena.list_named_queries(WorkGroup=k2_settings.athena_workgroup)["NamedQueryIds"]
    provisioned = athena.batch_get_named_query(NamedQueryIds=ids)["NamedQueries"]
    expected = named_queries(k2_settings.glue_database, tuple(Exchange))
    assert sorted((q["Name"], q["QueryString"], q["Database"]) for q in provisioned) == sorted(
        (q.name, q.sql, k2_settings.glue_database) for q in expected
    )


def test_a_query_in_the_research_work_group_writes_where_the_work_group_says(
    athena: Any, numbers: Table, k2_settings: K2Settings
) -> None:
    execution = _run(
        athena,
        f"SELECT max(id) FROM {TABLE}",
        "s3://somewhere-else/ignored/",  # the work group enforces its own location
        WorkGroup=k2_settings.athena_workgroup,
    )
    assert execution["Status"]["State"] == "SUCCEEDED", execution["Status"]
    assert execution["WorkGroup"] == k2_settings.athena_workgroup
    assert execution["ResultConfiguration"]["OutputLocation"] == (
        f"s3://{k2_settings.athena_results_bucket}/results/{execution['QueryExecutionId']}.csv"
    )
    assert execution["ResultConfiguration"]["EncryptionConfiguration"] == {
        "EncryptionOption": "SSE_S3"
    }
    rows = athena.get_query_results(QueryExecutionId=execution["QueryExecutionId"])["ResultSet"]
    assert _values(rows["Rows"][1]) == (str(ROWS - 1),)


# --- pyathena -----------------------------------------------------------------------------------


def test_pyathena_works_unchanged(
    numbers: Table,
    local_cloud: LocalCloud,
    k2_settings: K2Settings,
    output: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyathena

    # What a user sets to point any AWS SDK at the local endpoint; pyathena's boto3 reads it.
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_cloud.layout.aws_endpoint_url)

    connection = pyathena.connect(
        s3_staging_dir=output,
        region_name=k2_settings.region,
        work_group="primary",
        schema_name=DATABASE,
    )
    try:
        cursor = connection.cursor()
        cursor.execute(
            f"SELECT id, name, note, price FROM {TABLE} WHERE id >= %(low)d ORDER BY id LIMIT 3",
            {"low": 20},
        )
        rows = cursor.fetchall()
        description = cursor.description
        assert cursor.state == "SUCCEEDED"
        output_location = cursor.output_location
        # qmark: the values travel as ExecutionParameters and the endpoint binds them.
        cursor.execute(
            f"SELECT name FROM {TABLE} WHERE id = ? OR name = ? ORDER BY id",
            ["5", "'row-00006'"],
            paramstyle="qmark",
        )
        assert cursor.fetchall() == [(_name(5),), (_name(6),)]
    finally:
        connection.close()

    assert rows == [
        (20, _name(20), _note(20), Decimal("2.50000000")),
        (21, _name(21), None, Decimal("2.62500000")),
        (22, _name(22), _note(22), Decimal("2.75000000")),
    ]
    assert description is not None
    assert [(d[0], d[1], d[4], d[5]) for d in description] == [
        ("id", "bigint", 19, 0),
        ("name", "varchar", 2147483647, 0),
        ("note", "varchar", 2147483647, 0),
        ("price", "decimal", 18, 8),
    ]
    assert output_location is not None and output_location.startswith(output)


def test_pyathena_reports_a_failed_query(
    numbers: Table, k2_settings: K2Settings, output: str
) -> None:
    import pyathena
    from pyathena.error import OperationalError

    connection = pyathena.connect(
        s3_staging_dir=output, region_name=k2_settings.region, schema_name=DATABASE
    )
    try:
        with pytest.raises(OperationalError, match="no_such_column"):
            connection.cursor().execute(f"SELECT no_such_column FROM {TABLE}")
    finally:
        connection.close()
