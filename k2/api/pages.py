"""A page of rows from the engine as the requested output: JSON envelope, CSV or Parquet."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import Response

from k2.api import envelope, observability
from k2.api.responses import OutputFormat, csv_response, json_response, parquet_response
from k2.query.fields import QueryableTable
from k2.query.requests import Page


def page_response(
    page: Page,
    limit: int,
    table: QueryableTable,
    requested_fields: Sequence[str] | None,
    output: OutputFormat = OutputFormat.JSON,
) -> Response:
    observability.record_page(page)
    if output is OutputFormat.JSON:
        pagination = {
            "limit": limit,
            "returned": len(page.rows),
            "has_more": page.has_more,
            "next_cursor": page.next_cursor,
        }
        body = envelope.success(list(page.rows), pagination, page.snapshot_id, page.files_scanned)
        return json_response(body)
    fields = table.select(requested_fields)
    extra = {"X-Has-More": str(page.has_more).lower()}
    if page.snapshot_id is not None:
        extra["X-Snapshot-Id"] = str(page.snapshot_id)
    if output is OutputFormat.CSV:
        response = csv_response(table.name, fields, page.rows)
    else:
        response = parquet_response(table.name, table, fields, page.rows)
    response.headers.update(extra)
    return response
