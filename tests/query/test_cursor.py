"""Replay cursors: round trip, and every alteration refused with ``invalid_cursor``."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k2.query.cursor import ReplayCursor, decode_cursor, encode_cursor, request_fingerprint
from k2.query.errors import InvalidCursorError

pytestmark = pytest.mark.unit

SECRET = b"test-secret"
CURSOR = ReplayCursor("gold_crypto_trades", 42, request_fingerprint({"a": 1}), (1, "b", "C", 7))


def test_round_trip_and_fingerprints() -> None:
    text = encode_cursor(CURSOR, SECRET)
    assert decode_cursor(text, SECRET) == CURSOR
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert request_fingerprint({"a": 1, "b": 2}) == request_fingerprint({"b": 2, "a": 1})
    assert request_fingerprint({"a": 1}) != request_fingerprint({"a": 2})


def _reencode(payload: dict[str, object], mac: str) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode() + "." + mac


def test_a_rewritten_key_or_snapshot_is_refused() -> None:
    text = encode_cursor(CURSOR, SECRET)
    mac = text.split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(text.split(".")[0] + "=="))
    for change in ({"k": [0, "b", "C", 7]}, {"s": 41}, {"v": 2}):
        with pytest.raises(InvalidCursorError) as refused:
            decode_cursor(_reencode({**payload, **change}, mac), SECRET)
        assert refused.value.code == "invalid_cursor"
    with pytest.raises(InvalidCursorError):
        decode_cursor(text, b"another-secret")


@given(st.text(max_size=300))
def test_arbitrary_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(text, SECRET)


@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_any_single_byte_change_is_refused(position: int, value: int) -> None:
    text = encode_cursor(CURSOR, SECRET)
    index = position % len(text)
    replacement = chr(value)
    if replacement == text[index]:
        return
    with pytest.raises(InvalidCursorError):
        decode_cursor(text[:index] + replacement + text[index + 1 :], SECRET)


def test_every_other_spelling_of_the_same_bytes_is_refused() -> None:
    text = encode_cursor(CURSOR, SECRET)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for char in alphabet.replace(text[-1], ""):  # the MAC's last character has unused bits
        with pytest.raises(InvalidCursorError):
            decode_cursor(text[:-1] + char, SECRET)
