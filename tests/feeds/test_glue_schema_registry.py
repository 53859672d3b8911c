"""Glue Schema Registry framing: header version, compression byte, 16-byte schema version id."""

from __future__ import annotations

import zlib
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k2.feeds.glue_schema_registry import (
    SchemaRegistryFramingError,
    frame,
    unframe,
)

pytestmark = pytest.mark.unit

VERSION_ID = UUID("0b3c6c8e-5d0c-4a55-9c1e-7d0c8a9b1f2e")


def test_frame_layout_is_the_aws_serde_layout() -> None:
    framed = frame(VERSION_ID, b"avro-body")
    assert framed[0] == 3  # header version byte
    assert framed[1] == 0  # no compression
    assert framed[2:18] == VERSION_ID.bytes
    assert framed[18:] == b"avro-body"


def test_zlib_compressed_body_is_inflated() -> None:
    framed = frame(VERSION_ID, b"x" * 1000, compress=True)
    assert framed[1] == 5
    assert zlib.decompress(framed[18:]) == b"x" * 1000
    assert unframe(framed) == (VERSION_ID, b"x" * 1000)


@given(body=st.binary(max_size=512), compress=st.booleans())
def test_unframe_inverts_frame(body: bytes, compress: bool) -> None:
    version_id = uuid4()
    assert unframe(frame(version_id, body, compress=compress)) == (version_id, body)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x03\x00short", "shorter than the header"),
        (b"\x00\x00" + bytes(16) + b"body", "unknown header version"),
        (b"\x03\x07" + bytes(16) + b"body", "unknown compression"),
    ],
)
def test_malformed_headers_raise_the_typed_error(data: bytes, reason: str) -> None:
    with pytest.raises(SchemaRegistryFramingError, match=reason):
        unframe(data)
