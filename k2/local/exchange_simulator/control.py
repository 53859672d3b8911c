"""The control endpoint: a tiny HTTP/1.1 server tests use to inject faults at a chosen moment.

Routes (JSON in, JSON out, one request per connection):

- ``POST /control/fault`` body ``{"fault": "disconnect|server_shutdown|stall|skip|duplicate|
  malformed", "exchange": "binance|kraken|all", "symbol": ..., "count": n, "duration": s,
  "kind": "invalid_json|truncated|wrong_types"}`` -> 200 ``{"ok": true, "fault": {...}}``,
  400 ``{"ok": false, "error": ...}`` when the request is invalid.
- ``POST /control/clear`` -> stop injecting (queued, scheduled and background faults, stalls).
- ``GET /control/stats`` -> counters (see ``ground_truth``), ports, connections, next ids.
- ``GET /health`` -> ``{"status": "ok"}``.

Hand-written on asyncio streams because the stdlib has no asyncio HTTP server and ``websockets``
refuses request bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from http import HTTPStatus
from typing import Any, Protocol

from .faults import FaultRequest, FaultRequestError

log = logging.getLogger(__name__)
_MAX_BODY = 64 * 1024


class ControlTarget(Protocol):
    def inject(self, request: FaultRequest) -> None: ...

    def clear_faults(self) -> None: ...

    def stats(self) -> dict[str, Any]: ...


class ControlServer:
    """Serves the control routes on ``host:port`` for a ``ControlTarget``."""

    def __init__(self, target: ControlTarget, host: str, port: int) -> None:
        self._target = target
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self._host, self._port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await self._answer(reader)
        except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            status, body = 400, {"ok": False, "error": f"bad HTTP request: {error}"}
        payload = json.dumps(body).encode()
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode() + payload)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        request_line = (await reader.readline()).decode("latin-1").strip()
        method, path, _ = request_line.split(" ", 2)
        length = 0
        while True:
            line = (await reader.readline()).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if length > _MAX_BODY:
            return 413, {"ok": False, "error": "body too large"}
        raw = await reader.readexactly(length) if length else b""
        route = (method, path.split("?")[0])
        if route == ("GET", "/health"):
            return 200, {"status": "ok"}
        if route == ("GET", "/control/stats"):
            return 200, self._target.stats()
        if route == ("POST", "/control/clear"):
            self._target.clear_faults()
            return 200, {"ok": True}
        if route == ("POST", "/control/fault"):
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise FaultRequestError("body must be a JSON object")
                request = FaultRequest.from_json(body)
            except (ValueError, FaultRequestError) as error:
                return 400, {"ok": False, "error": str(error)}
            log.info("fault requested: %s", request)
            self._target.inject(request)
            return 200, {"ok": True, "fault": request.to_json()}
        return 404, {"ok": False, "error": f"no route {method} {path}"}
