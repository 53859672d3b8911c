"""Every failure as ``{success: false, error: {code, message}}`` with a 4xx, never a bare 500.

Codes are the API's contract (docs/api.md lists them): the engine's :class:`QueryError` codes,
plus the few the HTTP layer owns. Only a fault of K2 itself is ``internal_error`` (500); the
request middleware (:mod:`k2.api.middleware`) answers it and logs the traceback, and its message
never leaks internals.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from k2.api import envelope, observability
from k2.api.responses import json_response
from k2.query.errors import QueryError

_HTTP_CODES = {
    400: "bad_request",
    401: "missing_api_key",
    403: "invalid_api_key",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


class ApiError(Exception):
    """A refusal decided by the HTTP layer (auth, body size, a missing resource)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class BodyTooLargeError(ApiError):
    def __init__(self, limit_bytes: int) -> None:
        super().__init__(413, "payload_too_large", f"request body larger than {limit_bytes} bytes")


def error_response(
    status: int, code: str, message: str, details: list[dict[str, Any]] | None = None
) -> Response:
    observability.record_error(code)
    return json_response(envelope.failure(code, message, details), status)


def _validation_details(error: RequestValidationError) -> list[dict[str, Any]]:
    """Where and what, without echoing the offending input back (it may be huge or hostile)."""
    return [
        {"loc": [str(part) for part in item.get("loc", ())], "message": str(item.get("msg"))}
        for item in error.errors()[:20]
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(QueryError)
    async def _query_error(_: Request, error: QueryError) -> Response:
        return error_response(error.status, error.code, str(error))

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> Response:
        details = _validation_details(error)
        first = details[0] if details else {"loc": [], "message": "invalid request"}
        where = ".".join(first["loc"])
        return error_response(422, "validation_error", f"{where}: {first['message']}", details)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> Response:
        if isinstance(error.__cause__, ApiError):  # FastAPI wraps failures reading the body
            cause = error.__cause__
            return error_response(cause.status, cause.code, cause.message)
        code = _HTTP_CODES.get(error.status_code, "http_error")
        return error_response(error.status_code, code, str(error.detail))
