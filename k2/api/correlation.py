"""The correlation id of the request being served, for logs, metrics and the envelope."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

HEADER = "X-Correlation-ID"
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_current: ContextVar[str] = ContextVar("k2_correlation_id", default="none")


def choose(inbound: str | None, request_id: str | None) -> str:
    """The caller's id if it is safe to echo (no header injection, bounded), else API Gateway's
    request id, else a fresh one."""
    if inbound and _ACCEPTED.fullmatch(inbound):
        return inbound
    if request_id and _ACCEPTED.fullmatch(request_id):
        return request_id
    return uuid.uuid4().hex


def current() -> str:
    return _current.get()


def set_current(correlation_id: str) -> None:
    _current.set(correlation_id)
