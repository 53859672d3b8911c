"""The one ASGI middleware every request passes: correlation id, body limit, logs and metrics.

Pure ASGI rather than Starlette's ``BaseHTTPMiddleware`` so a body is counted as it streams
(a client that lies in ``Content-Length`` is still cut off) and an unexpected exception becomes
K2's 500 envelope here, the only place one can.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from k2.api import correlation, envelope, observability
from k2.api.errors import ApiError, BodyTooLargeError
from k2.api.responses import json_bytes

# GET responses a browser or CDN may reuse, by path prefix (seconds); the rest are no-store.
CACHE_SECONDS = (
    ("/v1/trades", 5),
    ("/v1/quotes", 5),
    ("/v1/ohlcv/health", 0),
    ("/v1/ohlcv", 30),
    ("/v1/summary", 60),
    ("/v1/symbols", 300),
    ("/v1/stats", 30),
    ("/v1/snapshots", 10),
)


def route_template(scope: Scope) -> str:
    """The matched route with its prefix (``/v1/ohlcv/{timeframe}``): a metric dimension of
    bounded cardinality, unlike the path."""
    fastapi_state = scope.get("fastapi") or {}  # FastAPI keeps an included route's full path here
    included = fastapi_state.get("effective_route_context")
    if template := getattr(included, "path_format", None):
        return str(template)
    return str(getattr(scope.get("route"), "path", "unmatched"))


def cache_control(method: str, path: str, status: int) -> str:
    if method == "GET" and status < 400:
        for prefix, seconds in CACHE_SECONDS:
            if path.startswith(prefix):
                return f"private, max-age={seconds}" if seconds else "no-store"
    return "no-store"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        event: dict[str, Any] = scope.get("aws.event") or {}
        request_id = (event.get("requestContext") or {}).get("requestId")
        correlation_id = correlation.choose(headers.get(correlation.HEADER), request_id)
        correlation.set_current(correlation_id)
        facts = observability.start_request()
        response = {"status": 500, "started": False}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                response["started"] = True
                extra = MutableHeaders(scope=message)
                extra[correlation.HEADER] = correlation_id
                extra["Cache-Control"] = cache_control(
                    scope["method"], scope["path"], message["status"]
                )
            await send(message)

        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLargeError(self.max_body_bytes)
            return message

        try:
            refusal = self._check_length(headers.get("content-length"))
            if refusal is not None:
                await self._reply(send_with_headers, *refusal)
            else:
                await self.app(scope, counted_receive, send_with_headers)
        except ApiError as refusal:
            if not response["started"]:
                await self._reply(send_with_headers, refusal.status, refusal.code, refusal.message)
        except Exception:
            observability.logger.exception("unhandled error", extra={"path": scope["path"]})
            if not response["started"]:
                await self._reply(
                    send_with_headers, 500, "internal_error", "an unexpected error occurred"
                )
        finally:
            facts.route = route_template(scope)
            latency_ms = (time.perf_counter() - started) * 1000
            status = int(response["status"])
            observability.logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    "route": facts.route,
                    "status": status,
                    "duration_ms": round(latency_ms, 2),
                    "rows": facts.rows,
                    "rows_scanned": facts.rows_scanned,
                    "files_scanned": facts.files_scanned,
                    "error_code": facts.error_code,
                    "correlation_id": correlation_id,
                },
            )
            observability.emit_request_metrics(facts, status, latency_ms)

    def _check_length(self, declared: str | None) -> tuple[int, str, str] | None:
        if declared is None:
            return None
        if not declared.isdigit():
            return 400, "invalid_content_length", "Content-Length must be a whole number"
        if int(declared) > self.max_body_bytes:
            too_large = BodyTooLargeError(self.max_body_bytes)
            return too_large.status, too_large.code, too_large.message
        return None

    @staticmethod
    async def _reply(send: Send, status: int, code: str, message: str) -> None:
        observability.record_error(code)
        body = json_bytes(envelope.failure(code, message))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
