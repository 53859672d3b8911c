"""Avro records framed the way the AWS Glue Schema Registry serde frames them.

The wire format is in ``k2.domain.schema_registry_wire``. Keeping the version id in every record
is what lets silver decode each record with the schema it was written with.
"""

from __future__ import annotations

import io
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import fastavro

from k2.domain.schema_registry_wire import (
    COMPRESSION_NONE,
    COMPRESSION_ZLIB,
    HEADER_LENGTH,
    HEADER_VERSION,
    SCHEMA_VERSION_ID_OFFSET,
)
from k2.feeds.avro_schemas import parse_schema


class SchemaRegistryFramingError(ValueError):
    """The bytes are not a Glue Schema Registry framed record."""


class IncompatibleSchemaError(RuntimeError):
    """The registry did not make the definition an AVAILABLE version (for example, it broke the
    schema's compatibility mode and was registered with status FAILURE)."""


def frame(schema_version_id: UUID, avro_body: bytes, *, compress: bool = False) -> bytes:
    compression = COMPRESSION_ZLIB if compress else COMPRESSION_NONE
    body = zlib.compress(avro_body) if compress else avro_body
    return bytes([HEADER_VERSION, compression]) + schema_version_id.bytes + body


def unframe(data: bytes) -> tuple[UUID, bytes]:
    """Split a framed record into its schema version id and Avro body."""
    if len(data) < HEADER_LENGTH:
        raise SchemaRegistryFramingError(f"record of {len(data)} bytes is shorter than the header")
    if data[0] != HEADER_VERSION:
        raise SchemaRegistryFramingError(f"unknown header version byte {data[0]}")
    body = data[HEADER_LENGTH:]
    if data[1] == COMPRESSION_ZLIB:
        body = zlib.decompress(body)
    elif data[1] != COMPRESSION_NONE:
        raise SchemaRegistryFramingError(f"unknown compression byte {data[1]}")
    return UUID(bytes=data[SCHEMA_VERSION_ID_OFFSET:HEADER_LENGTH]), body


def encode_avro(parsed_schema: Any, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_schema, record)
    return buffer.getvalue()


def decode_avro(parsed_schema: Any, body: bytes) -> dict[str, Any]:
    record = fastavro.schemaless_reader(io.BytesIO(body), parsed_schema, None)
    if not isinstance(record, dict):
        raise SchemaRegistryFramingError("the Avro body does not decode to a record")
    return record


@dataclass
class GlueSchemaRegistry:
    """Registers schemas and resolves version ids, caching both (versions are immutable)."""

    glue: Any
    registry_name: str
    compatibility: str = "BACKWARD"
    status_polls: int = 10  # reads of a PENDING version's status, 1 s apart, before giving up
    wait: Callable[[float], None] = time.sleep  # injectable so tests do not sleep
    _version_ids: dict[tuple[str, str], UUID] = field(default_factory=dict)
    _schemas: dict[UUID, Any] = field(default_factory=dict)

    def register(self, schema_name: str, definition: str) -> UUID:
        """The version id of ``definition`` under ``schema_name``, registering it if new."""
        key = (schema_name, definition)
        if key not in self._version_ids:
            self._version_ids[key] = self._register(schema_name, definition)
            self._schemas[self._version_ids[key]] = parse_schema(definition)
        return self._version_ids[key]

    def _register(self, schema_name: str, definition: str) -> UUID:
        """Register ``definition`` and wait for its check; raise unless it becomes AVAILABLE.

        AWS checks compatibility asynchronously: a new version starts PENDING and ends AVAILABLE
        or FAILURE; an incompatible definition is a FAILURE version, not an error.
        """
        registry = {"RegistryName": self.registry_name}
        try:
            response = self.glue.create_schema(
                RegistryId=registry,
                SchemaName=schema_name,
                DataFormat="AVRO",
                Compatibility=self.compatibility,
                SchemaDefinition=definition,
            )
            version_number, status = 1, response["SchemaVersionStatus"]
        except self.glue.exceptions.AlreadyExistsException:
            response = self.glue.register_schema_version(
                SchemaId={**registry, "SchemaName": schema_name}, SchemaDefinition=definition
            )
            version_number, status = response["VersionNumber"], response["Status"]
        version_id = response["SchemaVersionId"]
        for _ in range(self.status_polls):
            if status != "PENDING":
                break
            self.wait(1.0)
            status = self.glue.get_schema_version(SchemaVersionId=version_id)["Status"]
        if status != "AVAILABLE":
            raise IncompatibleSchemaError(
                f"schema {schema_name} version {version_number} has status {status}, not "
                "AVAILABLE: the registry did not accept the definition (an incompatible change "
                "under the schema's compatibility mode ends FAILURE)"
            )
        return UUID(version_id)

    def schema(self, version_id: UUID) -> Any:
        if version_id not in self._schemas:
            response = self.glue.get_schema_version(SchemaVersionId=str(version_id))
            self._schemas[version_id] = parse_schema(response["SchemaDefinition"])
        return self._schemas[version_id]

    def serialize(self, version_id: UUID, record: dict[str, Any]) -> bytes:
        return frame(version_id, encode_avro(self.schema(version_id), record))

    def deserialize(self, data: bytes) -> tuple[UUID, dict[str, Any]]:
        version_id, body = unframe(data)
        return version_id, decode_avro(self.schema(version_id), body)
