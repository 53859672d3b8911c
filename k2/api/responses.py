"""Bodies on the wire: JSON envelopes, CSV and Parquet downloads.

Rows are encoded directly (no per-row pydantic validation): decimals as exact positional text
(``"65000.12"``; a JSON number would be read back as a binary float), times as ISO-8601 UTC.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from starlette.responses import Response

from k2.domain.decimals import plain_text
from k2.query.fields import QueryableTable

JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
PARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


class OutputFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


def _wire_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return plain_text(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, StrEnum):
        return value.value
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot encode {type(value).__name__}")


def json_bytes(body: Any) -> bytes:
    return json.dumps(body, default=_wire_value, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json_bytes(body), status, headers, media_type=JSON_MEDIA_TYPE)


def _download_headers(resource: str, extension: str, count: int) -> dict[str, str]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return {
        "Content-Disposition": f'attachment; filename="{resource}_{stamp}.{extension}"',
        "X-Record-Count": str(count),
    }


def csv_response(resource: str, fields: Sequence[str], rows: Sequence[dict[str, Any]]) -> Response:
    """A header row in the requested field order, then one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow("" if row[name] is None else _text_cell(row[name]) for name in fields)
    return Response(
        buffer.getvalue().encode(),
        200,
        _download_headers(resource, "csv", len(rows)),
        media_type=CSV_MEDIA_TYPE,
    )


def _text_cell(value: Any) -> str:
    encoded = value if isinstance(value, str | int) else _wire_value(value)
    return str(encoded)


def parquet_response(
    resource: str, table: QueryableTable, fields: Sequence[str], rows: Sequence[dict[str, Any]]
) -> Response:
    """The rows with the lake's own types (decimal(38,18), timestamp[us, UTC])."""
    arrow_schema = table.definition.iceberg_schema().as_arrow()
    schema = pa.schema([arrow_schema.field(name) for name in fields])
    arrow = pa.Table.from_pylist([{n: row[n] for n in fields} for row in rows], schema=schema)
    sink = io.BytesIO()
    pq.write_table(arrow, sink, compression="zstd")
    return Response(
        sink.getvalue(),
        200,
        _download_headers(resource, "parquet", len(rows)),
        media_type=PARQUET_MEDIA_TYPE,
    )
