"""Silver, one bronze row at a time: decode, normalise, validate, and route to silver or the DLQ.

Pure Python (no Spark, no I/O, no clock), so the Spark job can run it inside ``mapPartitions`` and
the tests can run it on their own. Every bronze row yields exactly one output row, either a silver
row or a ``silver_dlq`` row: nothing is dropped, and the same bronze row always yields the same
output, on every replay.

Stages, each with its own :class:`~k2.domain.validation.ReasonClass` when it refuses a record:

1. **decode**: the Kafka value must be a Glue Schema Registry frame (see
   ``k2.domain.schema_registry_wire``) whose body is exactly one Avro record of the writer's
   schema.
2. **schema**: the frame's schema version id must be known to the registry (``lookup``), and the
   writer's record must carry every field the raw record needs, with the right types. Versions
   evolve: fields a newer writer added are ignored, and an optional field a writer lacks is
   ``None``.
3. **normalise**: the exchange adapter's raw → ``trade_v2``/``quote_v2`` mapping
   (``k2.feeds.binance``, ``k2.feeds.kraken``); a :class:`~k2.domain.errors.DomainError` carries
   the reason.
4. **validate**: the business rules of :mod:`k2.domain.validation`.

Timestamps are decoded as the integers the writer wrote: the ``timestamp-micros`` logical type is
removed from the writer's schema before decoding (the binary encoding, a ``long``, is the same),
so no value takes a detour through ``datetime`` and a time beyond what ``datetime`` can hold (year
9999) reaches the rules as a number rather than failing the Avro decode.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import Enum
from types import NoneType
from typing import Any, Final, get_args, get_type_hints
from uuid import UUID

import fastavro

from k2.domain.errors import DomainError
from k2.domain.markets import MAX_RECORD_BYTES, DataType, Exchange
from k2.domain.quote import QuoteV2
from k2.domain.schema_registry_wire import (
    COMPRESSION_NONE,
    COMPRESSION_ZLIB,
    HEADER_LENGTH,
    HEADER_VERSION,
    SCHEMA_VERSION_ID_OFFSET,
)
from k2.domain.timestamps import avro_micros
from k2.domain.trade import TradeV2
from k2.domain.validation import (
    DEFAULT_POLICY,
    ReasonClass,
    ReasonCode,
    ValidationPolicy,
    reason_code,
    validate_quote,
    validate_trade,
)
from k2.feeds import binance, kraken

SchemaLookup = Callable[[UUID], Any]
"""A parsed fastavro schema for a schema version id. Must raise :class:`LookupError` (``KeyError``,
:class:`UnknownSchemaVersionError`) for an id the registry does not know: that record goes to the
DLQ. Any other error (the registry unreachable) propagates and fails the job, because a transient
failure must not turn good records into dead letters."""

MAX_MESSAGE_LENGTH: Final = 1000
"""The longest DLQ ``message``; the raw bytes are kept in full, so nothing needs a longer one."""

SILVER_LINEAGE_COLUMNS: Final = (
    "source_topic",
    "source_partition",
    "source_offset",
    "schema_version_id",
)
"""Columns a silver row carries after the ``trade_v2``/``quote_v2`` fields."""

DLQ_COLUMNS: Final = (
    "source_table",
    "topic",
    "partition",
    "offset",
    "kafka_timestamp",
    "raw_value",
    "schema_version_id",
    "reason_class",
    "reason",
    "message",
    "exchange",
    "data_type",
)
"""Columns of a ``silver_dlq`` row, in order."""


class UnknownSchemaVersionError(KeyError):
    """The schema registry has no version with this id."""


@dataclass(frozen=True, slots=True)
class SilverRecord:
    """A bronze row that became a silver row (``trade_v2``/``quote_v2`` fields plus lineage)."""

    row: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A bronze row that became a ``silver_dlq`` row (columns :data:`DLQ_COLUMNS`)."""

    row: dict[str, Any]


SilverResult = SilverRecord | DeadLetter


@dataclass(frozen=True, slots=True)
class _RawField:
    name: str
    types: tuple[type, ...]
    optional: bool


def _raw_fields(raw_type: type[Any]) -> tuple[_RawField, ...]:
    hints = get_type_hints(raw_type)
    result = []
    for item in fields(raw_type):
        hint = hints[item.name]
        args = get_args(hint) or (hint,)
        types = tuple(arg for arg in args if arg is not NoneType)
        result.append(_RawField(item.name, types, NoneType in args))
    return tuple(result)


@dataclass(frozen=True, slots=True)
class _Feed:
    raw_type: type[Any]
    normalise: Callable[[Any], TradeV2 | QuoteV2]
    raw_fields: tuple[_RawField, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw_fields", _raw_fields(self.raw_type))


_FEEDS: Final[Mapping[tuple[Exchange, DataType], _Feed]] = {
    (Exchange.BINANCE, DataType.TRADES): _Feed(binance.BinanceRawTrade, binance.to_trade_v2),
    (Exchange.BINANCE, DataType.QUOTES): _Feed(binance.BinanceRawQuote, binance.to_quote_v2),
    (Exchange.KRAKEN, DataType.TRADES): _Feed(kraken.KrakenRawTrade, kraken.to_trade_v2),
    (Exchange.KRAKEN, DataType.QUOTES): _Feed(kraken.KrakenRawQuote, kraken.to_quote_v2),
}


class _RefusedError(Exception):
    """Internal: a stage refused the record; carries what the DLQ row needs."""

    def __init__(self, reason_class: ReasonClass, reason: ReasonCode, message: str) -> None:
        super().__init__(message)
        self.reason_class = reason_class
        self.reason = reason
        self.message = message


def bronze_table_name(exchange: Exchange, data_type: DataType) -> str:
    """The bronze table a row came from (``k2.lake.tables.bronze_table(...).name``)."""
    return f"bronze_{exchange.value}_{data_type.value}"


# --- decode ------------------------------------------------------------------------------------


def _value_bytes(value: object) -> bytes:
    if value is None:
        raise _RefusedError(ReasonClass.DECODE, ReasonCode.MISSING_VALUE, "the Kafka value is null")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise _RefusedError(
        ReasonClass.DECODE,
        ReasonCode.NOT_FRAMED,
        f"the Kafka value is {type(value).__name__}, not bytes",
    )


def _inflate(body: bytes) -> bytes:
    """A zlib body, bounded: a frame may not inflate beyond the largest record K2 writes."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(body, MAX_RECORD_BYTES + 1)
    except zlib.error as exc:
        raise _RefusedError(
            ReasonClass.DECODE, ReasonCode.BAD_COMPRESSION, f"zlib body does not inflate: {exc}"
        ) from exc
    if len(data) > MAX_RECORD_BYTES:
        raise _RefusedError(
            ReasonClass.DECODE,
            ReasonCode.BAD_COMPRESSION,
            f"zlib body inflates to more than {MAX_RECORD_BYTES} bytes",
        )
    if not inflater.eof:
        raise _RefusedError(
            ReasonClass.DECODE, ReasonCode.BAD_COMPRESSION, "zlib body is truncated"
        )
    if inflater.unused_data:
        raise _RefusedError(
            ReasonClass.DECODE,
            ReasonCode.BAD_COMPRESSION,
            f"{len(inflater.unused_data)} trailing byte(s) after the zlib body",
        )
    return data


def _unframe(value: bytes) -> tuple[UUID, bytes]:
    """The schema version id and Avro body of a Glue Schema Registry frame (the reader side of
    ``k2.feeds.glue_schema_registry.frame``); raises the refusal the DLQ records."""
    if len(value) < HEADER_LENGTH:
        raise _RefusedError(
            ReasonClass.DECODE,
            ReasonCode.NOT_FRAMED,
            f"{len(value)} bytes, shorter than the {HEADER_LENGTH}-byte schema registry header",
        )
    if value[0] != HEADER_VERSION:
        raise _RefusedError(
            ReasonClass.DECODE,
            ReasonCode.NOT_FRAMED,
            f"header version byte {value[0]}, expected {HEADER_VERSION}",
        )
    version_id = UUID(bytes=value[SCHEMA_VERSION_ID_OFFSET:HEADER_LENGTH])
    body = value[HEADER_LENGTH:]
    if value[1] == COMPRESSION_ZLIB:
        return version_id, _inflate(body)
    if value[1] != COMPRESSION_NONE:
        raise _RefusedError(
            ReasonClass.DECODE, ReasonCode.NOT_FRAMED, f"unknown compression byte {value[1]}"
        )
    return version_id, body


_FASTAVRO_KEYS = frozenset({"__fastavro_parsed", "__named_schemas"})


def _integer_timestamps(schema: Any) -> Any:
    """The schema as plain JSON data with ``timestamp-micros`` annotations removed, so those
    fields decode to the exact integers written (fastavro's bookkeeping keys are dropped)."""
    if isinstance(schema, list):
        return [_integer_timestamps(item) for item in schema]
    if isinstance(schema, dict):
        return {
            key: _integer_timestamps(item)
            for key, item in schema.items()
            if key not in _FASTAVRO_KEYS
            and not (key == "logicalType" and item == "timestamp-micros")
        }
    return schema


_DECODING_SCHEMAS: dict[UUID, tuple[Any, Any]] = {}
_DECODING_SCHEMAS_LIMIT = 1024


def _decoding_schema(version_id: UUID, writer_schema: Any) -> Any:
    """The writer's schema as :func:`_integer_timestamps` makes it, parsed once per version (a
    version is immutable; the entry is reused only for the very schema object it was made from)."""
    cached = _DECODING_SCHEMAS.get(version_id)
    if cached is not None and cached[0] is writer_schema:
        return cached[1]
    try:
        decoding = fastavro.parse_schema(_integer_timestamps(writer_schema))
    except Exception as exc:
        raise _RefusedError(
            ReasonClass.SCHEMA,
            ReasonCode.INCOMPATIBLE_SCHEMA,
            f"schema version {version_id} is not a usable Avro schema: {_describe(exc)}",
        ) from exc
    if len(_DECODING_SCHEMAS) >= _DECODING_SCHEMAS_LIMIT:
        _DECODING_SCHEMAS.clear()
    _DECODING_SCHEMAS[version_id] = (writer_schema, decoding)
    return decoding


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _decode_avro(version_id: UUID, writer_schema: Any, body: bytes) -> dict[str, Any]:
    schema = _decoding_schema(version_id, writer_schema)
    buffer = io.BytesIO(body)
    try:
        record = fastavro.schemaless_reader(buffer, schema, None)
    except Exception as exc:  # whatever the bytes make the reader raise, they are not the record
        raise _RefusedError(
            ReasonClass.DECODE,
            ReasonCode.BAD_AVRO,
            f"the body does not decode with schema version {version_id}: {_describe(exc)}",
        ) from exc
    if buffer.tell() != len(body):
        raise _RefusedError(
            ReasonClass.DECODE,
            ReasonCode.BAD_AVRO,
            f"{len(body) - buffer.tell()} trailing byte(s) after the record of schema version "
            f"{version_id}",
        )
    if not isinstance(record, dict):
        raise _RefusedError(
            ReasonClass.SCHEMA,
            ReasonCode.INCOMPATIBLE_SCHEMA,
            f"schema version {version_id} is not a record schema",
        )
    return record


# --- schema: the writer's record to the raw dataclass ------------------------------------------


def _is_a(value: object, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types  # bool is an int subclass; an int field never takes one
    return isinstance(value, types)


def _raw_record(feed: _Feed, record: Mapping[str, Any], version_id: UUID) -> Any:
    """The raw dataclass from a decoded record of any schema version: fields the writer added are
    ignored, optional fields it lacks are ``None``, a missing required field or a value of another
    type refuses the record."""
    values: dict[str, Any] = {}
    raw_type = feed.raw_type
    for spec in feed.raw_fields:
        value = record.get(spec.name)
        if value is None:
            if not spec.optional:
                raise _RefusedError(
                    ReasonClass.SCHEMA,
                    ReasonCode.INCOMPATIBLE_SCHEMA,
                    f"schema version {version_id} gives no value for required field "
                    f"{spec.name!r} of {raw_type.__name__}",
                )
        elif isinstance(value, datetime) and int in spec.types and value.tzinfo is not None:
            value = avro_micros(value)  # another timestamp logical type (e.g. timestamp-millis)
        if value is not None and not _is_a(value, spec.types):
            expected = " | ".join(t.__name__ for t in spec.types)
            raise _RefusedError(
                ReasonClass.SCHEMA,
                ReasonCode.INCOMPATIBLE_SCHEMA,
                f"schema version {version_id} gives field {spec.name!r} of {raw_type.__name__} "
                f"as {type(value).__name__}, K2 reads {expected}",
            )
        values[spec.name] = value
    return raw_type(**values)


# --- rows --------------------------------------------------------------------------------------


def _plain(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


def silver_row(
    record: TradeV2 | QuoteV2, *, topic: str, partition: int, offset: int, schema_version_id: str
) -> dict[str, Any]:
    """Every ``trade_v2``/``quote_v2`` field (enums as their string values, decimals as
    ``Decimal``, times as integer microseconds), then :data:`SILVER_LINEAGE_COLUMNS`."""
    row = {item.name: _plain(getattr(record, item.name)) for item in fields(record)}
    row["source_topic"] = topic
    row["source_partition"] = partition
    row["source_offset"] = offset
    row["schema_version_id"] = schema_version_id
    return row


def _truncate(message: str) -> str:
    if len(message) <= MAX_MESSAGE_LENGTH:
        return message
    return message[: MAX_MESSAGE_LENGTH - 1] + "…"


def dlq_row(
    row: Mapping[str, Any],
    exchange: Exchange,
    data_type: DataType,
    reason_class: ReasonClass,
    reason: ReasonCode,
    message: str,
) -> dict[str, Any]:
    """The ``silver_dlq`` row for a bronze row: its coordinates, its bytes unchanged, and why."""
    value = row["value"]
    raw_value = bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None
    return {
        "source_table": bronze_table_name(exchange, data_type),
        "topic": row["topic"],
        "partition": row["partition"],
        "offset": row["offset"],
        "kafka_timestamp": row["kafka_timestamp"],
        "raw_value": raw_value,
        "schema_version_id": row.get("schema_version_id"),
        "reason_class": reason_class.value,
        "reason": reason.value,
        "message": _truncate(message),
        "exchange": exchange.value,
        "data_type": data_type.value,
    }


def decoded_value(value: object, lookup: SchemaLookup) -> tuple[UUID, dict[str, Any]]:
    """A bronze value's schema version and record, decoded with the writer's schema, as silver
    decodes it (for tools and benchmarks that need the decoding without the rest); raises
    ``ValueError`` saying why when silver would send the value to the DLQ at that stage."""
    try:
        version_id, body = _unframe(_value_bytes(value))
        return version_id, _decode_avro(version_id, lookup(version_id), body)
    except _RefusedError as exc:
        raise ValueError(f"{exc.reason}: {exc.message}") from exc
    except LookupError as exc:
        raise ValueError(f"{ReasonCode.UNKNOWN_SCHEMA_VERSION}: {exc}") from exc


# --- the whole row -----------------------------------------------------------------------------


def _silver(
    row: Mapping[str, Any],
    feed: _Feed,
    lookup: SchemaLookup,
    policy: ValidationPolicy,
) -> dict[str, Any]:
    version_id, body = _unframe(_value_bytes(row["value"]))
    recorded = row.get("schema_version_id")
    if recorded is not None and str(recorded).lower() != str(version_id):
        raise _RefusedError(
            ReasonClass.SCHEMA,
            ReasonCode.SCHEMA_VERSION_MISMATCH,
            f"bronze recorded schema version {str(recorded)[:40]!r}, the frame names {version_id}",
        )
    try:
        writer_schema = lookup(version_id)
    except LookupError as exc:
        raise _RefusedError(
            ReasonClass.SCHEMA,
            ReasonCode.UNKNOWN_SCHEMA_VERSION,
            f"the schema registry has no version {version_id}",
        ) from exc
    raw = _raw_record(feed, _decode_avro(version_id, writer_schema, body), version_id)
    try:
        record = feed.normalise(raw)
    except DomainError as exc:
        raise _RefusedError(ReasonClass.NORMALISE, reason_code(exc), str(exc)) from exc
    if isinstance(record, TradeV2):
        violations = validate_trade(record, policy)
    else:
        violations = validate_quote(record, policy)
    if violations:
        raise _RefusedError(
            ReasonClass.VALIDATE,
            violations[0].code,
            "; ".join(violation.message for violation in violations),
        )
    return silver_row(
        record,
        topic=row["topic"],
        partition=row["partition"],
        offset=row["offset"],
        schema_version_id=str(version_id),
    )


def decode_bronze_row(
    row: Mapping[str, Any],
    exchange: Exchange,
    data_type: DataType,
    lookup: SchemaLookup,
    policy: ValidationPolicy = DEFAULT_POLICY,
) -> SilverResult:
    """One bronze row of ``bronze_{exchange}_{data_type}`` as a silver row or a DLQ row.

    ``row`` has the bronze columns (``value``, ``topic``, ``partition``, ``offset``,
    ``kafka_timestamp``, ``schema_version_id``; others are ignored). Raises only for what is not
    the record's fault: a missing column, a lookup failure other than :class:`LookupError`, or a
    bug in a normaliser (an error that is not a ``DomainError``).
    """
    feed = _FEEDS[(exchange, data_type)]
    try:
        return SilverRecord(_silver(row, feed, lookup, policy))
    except _RefusedError as refused:
        return DeadLetter(
            dlq_row(row, exchange, data_type, refused.reason_class, refused.reason, refused.message)
        )


def split_bronze_rows(
    rows: Iterable[Mapping[str, Any]],
    exchange: Exchange,
    data_type: DataType,
    lookup: SchemaLookup,
    policy: ValidationPolicy = DEFAULT_POLICY,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Bronze rows as (silver rows, DLQ rows), each in input order; every row lands in one."""
    silver: list[dict[str, Any]] = []
    dead: list[dict[str, Any]] = []
    for row in rows:
        result = decode_bronze_row(row, exchange, data_type, lookup, policy)
        if isinstance(result, SilverRecord):
            silver.append(result.row)
        else:
            dead.append(result.row)
    return silver, dead
