"""One read path: pyiceberg plans, pyarrow reads, DuckDB executes.

pyiceberg plans the scan with the request's row filter, so whole partitions (day, symbol) and,
through each file's column statistics, whole files are skipped before anything is read; pyarrow
reads only the selected columns of the remaining files and applies the filter to their rows.
DuckDB then runs the query's SQL over that Arrow table in memory.

DuckDB runs with extension auto-install and auto-load off and external access disabled: the
engine needs no extension (the wheel's built-ins suffice), a Lambda cold start must not download
one, and SQL can reach nothing but the registered Arrow data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.expressions import BooleanExpression
from pyiceberg.table import Table
from pyiceberg.table import _to_arrow_via_file_scan_tasks as arrow_from_tasks

SCAN_VIEW = "scan"
"""The name the scanned rows have in SQL."""

_DUCKDB_CONFIG = {
    "autoinstall_known_extensions": "false",
    "autoload_known_extensions": "false",
    "enable_external_access": "false",
    "threads": "2",
}


@dataclass(frozen=True)
class ScanResult:
    arrow: pa.Table
    snapshot_id: int | None
    files_planned: int
    """Data files the plan kept after partition and statistics pruning (what was read)."""


def scan(
    table: Table,
    columns: Sequence[str],
    row_filter: BooleanExpression,
    snapshot_id: int | None,
) -> ScanResult:
    """The rows of ``table`` (at ``snapshot_id``, else current) matching ``row_filter``, with
    only ``columns``. Plans once: the planned tasks are both counted and read."""
    data_scan = table.scan(
        row_filter=row_filter, selected_fields=tuple(columns), snapshot_id=snapshot_id
    )
    tasks = list(data_scan.plan_files())
    arrow = arrow_from_tasks(data_scan, data_scan.projection(), tasks)
    resolved = snapshot_id
    if resolved is None and (current := table.current_snapshot()) is not None:
        resolved = current.snapshot_id
    return ScanResult(arrow, resolved, len(tasks))


def connect(*, time_zone: str | None = None) -> duckdb.DuckDBPyConnection:
    """A fresh in-memory DuckDB that cannot load extensions or touch files. ``time_zone`` sets
    the session zone (else the machine's) before the configuration is locked."""
    connection = duckdb.connect(config=dict(_DUCKDB_CONFIG))
    if time_zone is not None:
        connection.execute("SET TimeZone = $zone", {"zone": time_zone})
    connection.execute("SET lock_configuration = true")
    return connection


def execute(arrow: pa.Table, sql: str, parameters: Mapping[str, Any]) -> pa.Table:
    """``sql`` (which reads the view :data:`SCAN_VIEW`) over ``arrow``, values bound as named
    parameters, result as Arrow."""
    connection = connect()
    try:
        connection.register(SCAN_VIEW, arrow)
        return connection.sql(sql, params=dict(parameters)).to_arrow_table()
    finally:
        connection.close()
