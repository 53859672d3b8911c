"""Calling the API the two ways it is served, and reading answers back into exact types."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import ModuleType
from typing import Any

from tests.api.api_testkit import KEYS, LambdaContextStub, rest_event


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)

    @property
    def data(self) -> Any:
        body = self.body
        assert body["success"] is True, body
        return body["data"]

    @property
    def code(self) -> str:
        body = self.body
        assert body["success"] is False, body
        return str(body["error"]["code"])


def invoke(
    handler_module: ModuleType,
    method: str,
    path: str,
    query: dict[str, Any] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
    api_key: str | None = KEYS[0],
) -> Answer:
    """One API Gateway REST proxy event through the real Lambda handler."""
    event = rest_event(method, path, query, body, headers, api_key)
    response = handler_module.handler(event, LambdaContextStub())
    text = response.get("body") or ""
    raw = base64.b64decode(text) if response.get("isBase64Encoded") else text.encode()
    headers_out = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers_out[name.lower()] = values[-1]
    return Answer(response["statusCode"], headers_out, raw)


def exact(api_rows: list[dict[str, Any]], truth: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """API rows with their text decimals and ISO times turned back into the truth's types."""
    assert len(api_rows) == len(truth), f"{len(api_rows)} rows, expected {len(truth)}"
    converted = []
    for api_row, true_row in zip(api_rows, truth, strict=True):
        row: dict[str, Any] = {}
        for name, value in api_row.items():
            expected = true_row.get(name)
            if isinstance(expected, Decimal) and value is not None:
                row[name] = Decimal(value)
            elif isinstance(expected, datetime) and value is not None:
                row[name] = datetime.fromisoformat(value)
            else:
                row[name] = value
        converted.append(row)
    return converted
