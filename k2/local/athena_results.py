"""The local Athena's result files, where Athena puts them: ``<OutputLocation><id>.csv`` and
``<OutputLocation><id>.csv.metadata``.

The CSV is Athena's: a header row, every value double-quoted (a quote inside doubled), SQL NULL
as an empty unquoted field, ``\\n`` line ends. Athena's ``.csv.metadata`` is an undocumented
binary (the serialized result set metadata); clients only need the CSV, so this writes the same
content as JSON instead: ``{"ColumnInfo": [...]}`` exactly as ``GetQueryResults`` reports it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

from k2.local.athena_executions import ResultColumn
from k2.query.athena_execution import AthenaResult


def column_info(column: ResultColumn) -> dict[str, Any]:
    """One ``ResultSetMetadata.ColumnInfo`` entry."""
    return {
        "CatalogName": "hive",
        "SchemaName": "",
        "TableName": "",
        "Name": column.name,
        "Label": column.name,
        "Type": column.type,
        "Precision": column.precision,
        "Scale": column.scale,
        "Nullable": column.nullable,
        "CaseSensitive": column.case_sensitive,
    }


def _field(value: str | None) -> str:
    return "" if value is None else '"' + value.replace('"', '""') + '"'


def results_csv(result: AthenaResult) -> bytes:
    lines = [",".join(_field(column.name) for column in result.columns)]
    lines += [",".join(_field(value) for value in row) for row in result.rows]
    return ("\n".join(lines) + "\n").encode()


def results_metadata(result: AthenaResult) -> bytes:
    return json.dumps({"ColumnInfo": [column_info(c) for c in result.columns]}).encode()


def result_location(output_location: str, query_execution_id: str) -> str:
    """``s3://bucket/prefix/<id>.csv`` for an output location with or without its slash."""
    if urlparse(output_location).scheme != "s3":
        raise ValueError(f"not an s3:// output location: {output_location}")
    return f"{output_location.rstrip('/')}/{query_execution_id}.csv"


def write_results(
    s3: Any, output_location: str, query_execution_id: str, result: AthenaResult
) -> str:
    """Write the CSV and its metadata with the boto3 S3 client ``s3``; the CSV's S3 URI (the
    query execution's ``ResultConfiguration.OutputLocation``)."""
    location = result_location(output_location, query_execution_id)
    parsed = urlparse(location)
    key = parsed.path.lstrip("/")
    s3.put_object(Bucket=parsed.netloc, Key=key, Body=results_csv(result), ContentType="text/csv")
    s3.put_object(
        Bucket=parsed.netloc,
        Key=f"{key}.metadata",
        Body=results_metadata(result),
        ContentType="application/json",
    )
    return location
