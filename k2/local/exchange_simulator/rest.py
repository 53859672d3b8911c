"""Plain HTTP answers on a WebSocket port (REST endpoints and refused upgrades)."""

from __future__ import annotations

from http import HTTPStatus

from websockets.datastructures import Headers
from websockets.http11 import Response


def json_response(status: int, body: str) -> Response:
    """A complete JSON HTTP response; websockets closes the connection after sending it."""
    headers = Headers()
    headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(body.encode()))
    headers["Connection"] = "close"
    return Response(status, HTTPStatus(status).phrase, headers, body.encode())
