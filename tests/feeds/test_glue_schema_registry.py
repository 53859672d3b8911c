"""Glue Schema Registry framing: header version, compression byte, 16-byte schema version id."""

from __future__ import annotations

import zlib
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k2.feeds.glue_schema_registry import (
    GlueSchemaRegistry,
    IncompatibleSchemaError,
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


# --- registering: a version is usable only once its status is AVAILABLE -------------------------

DEFINITION = '{"type": "record", "name": "P", "fields": [{"name": "x", "type": "long"}]}'


class AlreadyExistsError(Exception):
    pass


class FakeGlue:
    """A schema that already exists; RegisterSchemaVersion answers ``status`` and then each
    GetSchemaVersion the next of ``later``."""

    exceptions = SimpleNamespace(AlreadyExistsException=AlreadyExistsError)

    def __init__(self, status: str, *later: str) -> None:
        self.status, self.later = status, list(later)
        self.registrations = 0

    def create_schema(self, **_: Any) -> dict[str, Any]:
        raise AlreadyExistsError

    def register_schema_version(self, **_: Any) -> dict[str, Any]:
        self.registrations += 1
        return {"SchemaVersionId": str(VERSION_ID), "VersionNumber": 7, "Status": self.status}

    def get_schema_version(self, SchemaVersionId: str) -> dict[str, Any]:  # noqa: N803 - boto3
        assert SchemaVersionId == str(VERSION_ID)
        return {"Status": self.later.pop(0)}


def registry(glue: FakeGlue, waits: list[float]) -> GlueSchemaRegistry:
    return GlueSchemaRegistry(glue, "k2", wait=waits.append)


def test_pending_version_is_polled_until_available() -> None:
    waits: list[float] = []
    glue = FakeGlue("PENDING", "PENDING", "AVAILABLE")
    assert registry(glue, waits).register("p", DEFINITION) == VERSION_ID
    assert waits == [1.0, 1.0]


@pytest.mark.parametrize(
    ("status", "later"), [("FAILURE", []), ("PENDING", ["PENDING", "FAILURE"])]
)
def test_failed_version_raises_and_is_not_cached(status: str, later: list[str]) -> None:
    glue = FakeGlue(status, *later)
    producer = registry(glue, [])
    with pytest.raises(IncompatibleSchemaError, match="schema p version 7 has status FAILURE"):
        producer.register("p", DEFINITION)

    glue.status = "FAILURE"
    with pytest.raises(IncompatibleSchemaError):
        producer.register("p", DEFINITION)
    assert glue.registrations == 2  # asked again, not answered from the cache


def test_version_still_pending_after_the_polls_raises() -> None:
    waits: list[float] = []
    glue = FakeGlue("PENDING", *["PENDING"] * 10)
    with pytest.raises(IncompatibleSchemaError, match="status PENDING"):
        registry(glue, waits).register("p", DEFINITION)
    assert len(waits) == 10
