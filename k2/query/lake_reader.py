"""Iceberg tables into DuckDB without DuckDB extensions (none can be downloaded at run time).

pyiceberg prunes files with the table's partition and column statistics, pyarrow reads only
the needed columns, and DuckDB runs SQL over the Arrow table in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import AlwaysTrue, BooleanExpression

from k2.query.scan import connect


def read_table(
    catalog: Catalog,
    identifier: str,
    columns: Sequence[str] = ("*",),
    row_filter: BooleanExpression | None = None,
) -> pa.Table:
    table = catalog.load_table(identifier)
    return table.scan(
        row_filter=row_filter or AlwaysTrue(), selected_fields=tuple(columns)
    ).to_arrow()


def duckdb_over(tables: dict[str, pa.Table]) -> duckdb.DuckDBPyConnection:
    """A fresh, locked-down DuckDB connection (no extensions, no file access; see
    :func:`k2.query.scan.connect`) with each Arrow table registered under its name."""
    connection = connect()
    for name, arrow in tables.items():
        connection.register(name, arrow)
    return connection
