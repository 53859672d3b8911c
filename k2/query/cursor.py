"""Opaque keyset cursors for ordered replay: pure, no I/O.

A cursor is ``base64url(payload) + "." + base64url(mac)`` where ``payload`` is compact JSON::

    {"v": 1, "t": "gold_crypto_trades", "s": <snapshot id>, "r": "<request fingerprint>",
     "k": [<time µs>, "<exchange>", "<symbol>", <trade id or message id>]}

and ``mac`` is the first 16 bytes of HMAC-SHA256 over the payload bytes with a server secret.

* ``k`` is the last row's key in the replay order; the next page is the rows *strictly after*
  it in that total order, so no OFFSET is scanned and no row repeats or is skipped.
* ``s`` pins the snapshot the first page read: later pages read the same snapshot, so a commit
  between pages (a stream appending) cannot shift or change them.
* ``r`` binds the cursor to the request's filters: a cursor replayed with other filters would
  silently return another result, so it is refused.
* The MAC makes any edit detectable; without the secret a client cannot forge a key or point a
  cursor at another snapshot. Every failure raises :class:`InvalidCursorError` (``invalid_cursor``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from k2.query.errors import InvalidCursorError
from k2.query.limits import MAX_CURSOR_CHARS

CURSOR_VERSION = 1
_MAC_BYTES = 16

KeyValue = int | str


@dataclass(frozen=True, slots=True)
class ReplayCursor:
    table: str
    snapshot_id: int
    request: str
    key: tuple[KeyValue, ...]


def request_fingerprint(filters: Mapping[str, Any]) -> str:
    """A short stable hash of a request's filters (canonical JSON: sorted keys)."""
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidCursorError("cursor is not base64url") from exc
    if _b64(data) != text:  # one spelling per cursor: no unused bits, no stray characters
        raise InvalidCursorError("cursor is not canonical base64url")
    return data


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(cursor: ReplayCursor, secret: bytes) -> str:
    payload = json.dumps(
        {
            "v": CURSOR_VERSION,
            "t": cursor.table,
            "s": cursor.snapshot_id,
            "r": cursor.request,
            "k": list(cursor.key),
        },
        separators=(",", ":"),
    ).encode()
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def _is_key_value(value: object) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def decode_cursor(text: str, secret: bytes) -> ReplayCursor:
    """The cursor ``text`` encodes, if its MAC verifies; else :class:`InvalidCursorError`."""
    if not isinstance(text, str) or not text or len(text) > MAX_CURSOR_CHARS:
        raise InvalidCursorError("cursor missing or too long")
    encoded_payload, dot, encoded_mac = text.partition(".")
    if not dot:
        raise InvalidCursorError("malformed cursor")
    payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        raise InvalidCursorError("cursor was altered or was not issued by this service")
    try:
        fields = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:  # pragma: no cover - a MAC'd payload is ours
        raise InvalidCursorError("malformed cursor") from exc
    if not isinstance(fields, dict) or fields.get("v") != CURSOR_VERSION:
        raise InvalidCursorError("cursor of an unsupported version")
    table, snapshot, request, key = (fields.get(name) for name in ("t", "s", "r", "k"))
    if (
        not isinstance(table, str)
        or not isinstance(snapshot, int)
        or isinstance(snapshot, bool)
        or not isinstance(request, str)
        or not isinstance(key, list)
        or not key
        or not all(_is_key_value(value) for value in key)
    ):
        raise InvalidCursorError("malformed cursor")
    return ReplayCursor(table, snapshot, request, tuple(key))
