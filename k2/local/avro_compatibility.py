"""Avro schema compatibility for the local Glue Schema Registry, on Apache ``avro``'s checker.

``avro.compatibility.ReaderWriterCompatibilityChecker`` is the port of Java's
``org.apache.avro.SchemaCompatibility``, the check AWS Glue runs. This module adds readable
reasons and the registry's compatibility modes on top.

Known difference from AWS: the library compares a named type's ``aliases`` with the writer's full
name as written (Java qualifies them with the namespace first), so here an alias of a namespaced
record, enum or fixed must be written fully qualified. Field aliases are unaffected.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeAlias

from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityResult
from avro.compatibility import SchemaCompatibilityType as Compatibility
from avro.errors import AvroException
from avro.schema import ArraySchema, MapSchema, NamedSchema, RecordSchema, Schema
from avro.schema import parse as parse_avro

Definition: TypeAlias = str | dict[str, Any] | list[Any]
"""A schema as JSON text, or that JSON already loaded."""

COMPATIBILITY_MODES = (
    "NONE",
    "DISABLED",
    "BACKWARD",
    "BACKWARD_ALL",
    "FORWARD",
    "FORWARD_ALL",
    "FULL",
    "FULL_ALL",
)


class InvalidSchemaError(ValueError):
    """The definition is not an Avro schema."""


def parse(definition: Definition) -> Schema:
    """The library's parsed schema; :class:`InvalidSchemaError` if it is not Avro."""
    text = definition if isinstance(definition, str) else json.dumps(definition)
    try:
        return parse_avro(text)
    except AvroException as err:
        raise InvalidSchemaError(str(err)) from err


class _Checker(ReaderWriterCompatibilityChecker):
    """The library's checker, but a union's branches are checked at the union's location.

    The library checks each branch as if it were the root, so a problem in a union field, such as
    ``["null", "string"]`` becoming ``"string"``, would be reported against the whole schema
    rather than the field. Only locations change; the verdict is the library's.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # the library leaves it unannotated
        self._location: list[str] = []

    def get_compatibility(
        self,
        reader: Schema,
        writer: Schema,
        reference_token: str = ReaderWriterCompatibilityChecker.ROOT_REFERENCE_TOKEN,
        location: list[str] | None = None,
    ) -> SchemaCompatibilityResult:
        if location is None and self._location:  # a union branch
            reference_token, location = self._location[-1], self._location[:-1]
        return super().get_compatibility(reader, writer, reference_token, location)

    def calculate_compatibility(
        self, reader: Schema, writer: Schema, location: list[str]
    ) -> SchemaCompatibilityResult:
        outer, self._location = self._location, location
        try:
            return super().calculate_compatibility(reader, writer, location)
        finally:
            self._location = outer


def can_read(reader_schema: Definition, writer_schema: Definition) -> list[str]:
    """Why data written with ``writer_schema`` cannot be read with ``reader_schema``.

    An empty list means it can. Each reason starts with the reader path it applies to, e.g.
    ``Trade.price: type mismatch: reader type: long not compatible with writer type: string``.
    """
    reader, writer = parse(reader_schema), parse(writer_schema)
    result = _Checker().get_compatibility(reader, writer)
    if result.compatibility is not Compatibility.incompatible:
        return []
    kinds = ", ".join(
        dict.fromkeys(kind.value.replace("_", " ") for kind in result.incompatibilities)
    )
    # Compatible parts merged into the result add the root location "/"; and the library keeps
    # messages and locations as separate sets, so they pair up only when one side is single.
    locations = sorted(result.locations - {"/"} or result.locations)
    paths = list(dict.fromkeys(_path(reader, location) for location in locations))
    messages = sorted(result.messages)
    if len(paths) == 1 or len(messages) == 1:
        return [f"{path}: {kinds}: {message}" for path in paths for message in messages]
    return [f"{', '.join(paths)}: {kinds}: {'; '.join(messages)}"]


def _path(reader: Schema, location: str) -> str:
    """A library location as a reader path: ``/fields/2/type/items`` is ``Trade.legs[]``."""
    path = reader.name if isinstance(reader, NamedSchema) else "(root)"
    steps = iter(location.strip("/").split("/"))
    for step in steps:
        if step == "fields" and isinstance(reader, RecordSchema):
            field = reader.fields[int(next(steps))]
            path, reader = f"{path}.{field.name}", field.type
        elif step == "items" and isinstance(reader, ArraySchema):
            path, reader = f"{path}[]", reader.items
        elif step == "values" and isinstance(reader, MapSchema):
            path, reader = f"{path}{{}}", reader.values
        # "type" (a field's type), "name", "size", "symbols", a union branch: no step in the path
    return path


def check_compatibility(
    mode: str, new_definition: Definition, previous_definitions: Sequence[Definition]
) -> list[str]:
    """Why ``new_definition`` may not follow ``previous_definitions`` (oldest first) under ``mode``.

    BACKWARD: the new schema reads data of the latest previous one; FORWARD: the latest previous
    schema reads data of the new one; FULL: both. The ``_ALL`` variants check every previous
    schema rather than the latest. NONE allows anything; DISABLED allows no new version at all.
    """
    if mode not in COMPATIBILITY_MODES:
        raise ValueError(f"unknown compatibility mode {mode!r}")
    if mode == "NONE" or not previous_definitions:
        return []
    if mode == "DISABLED":
        return ["compatibility DISABLED allows no new schema versions"]
    count = len(previous_definitions)
    first = 0 if mode.endswith("_ALL") else count - 1
    reasons: list[str] = []
    for number in range(first, count):
        previous = previous_definitions[number]
        label = f"previous schema {number + 1} of {count}"
        if mode.startswith(("BACKWARD", "FULL")):
            reasons += [
                f"the new schema cannot read data written with {label}: {reason}"
                for reason in can_read(new_definition, previous)
            ]
        if mode.startswith(("FORWARD", "FULL")):
            reasons += [
                f"{label} cannot read data written with the new schema: {reason}"
                for reason in can_read(previous, new_definition)
            ]
    return reasons
