"""Every response's shape: ``{success, data, pagination, meta}`` or ``{success: false, error}``.

The models document the API (OpenAPI); bodies are written by :mod:`k2.api.responses`, which
encodes rows directly instead of validating 100,000 rows through pydantic on the way out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from k2.api import correlation

Data = TypeVar("Data")


class Meta(BaseModel):
    correlation_id: str = Field(description="Echoes X-Correlation-ID, or the one assigned.")
    timestamp: datetime = Field(description="When the response was made (UTC).")
    snapshot_id: int | None = Field(
        None, description="The Iceberg snapshot read: pass it back to read the same state."
    )
    files_scanned: int | None = Field(
        None, description="Data files the scan kept after partition and statistics pruning."
    )


class Pagination(BaseModel):
    limit: int
    returned: int
    has_more: bool = Field(description="True exactly when another row matched the request.")
    next_cursor: str | None = Field(None, description="Replay only: the next page's cursor.")


class Envelope(BaseModel, Generic[Data]):
    success: Literal[True] = True
    data: Data
    pagination: Pagination | None = None
    meta: Meta


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable (e.g. invalid_timestamp).")
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorEnvelope(BaseModel):
    success: Literal[False] = False
    error: ErrorDetail
    meta: Meta | None = Field(
        None,
        description="Absent when API Gateway refuses the request before the API runs: 403 "
        "forbidden, 413 request_too_large, 429 throttled or quota_exceeded.",
    )


def meta(snapshot_id: int | None = None, files_scanned: int | None = None) -> dict[str, Any]:
    return {
        "correlation_id": correlation.current(),
        "timestamp": datetime.now(UTC),
        "snapshot_id": snapshot_id,
        "files_scanned": files_scanned,
    }


def success(
    data: Any,
    pagination: dict[str, Any] | None = None,
    snapshot_id: int | None = None,
    files_scanned: int | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"success": True, "data": data}
    if pagination is not None:
        body["pagination"] = pagination
    body["meta"] = meta(snapshot_id, files_scanned)
    return body


def failure(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"success": False, "error": error, "meta": meta()}
