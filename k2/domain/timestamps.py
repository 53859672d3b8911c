"""UTC instants as integer microseconds since the Unix epoch: the one time unit K2 stores.

Integers, not datetimes or floats, so that no conversion can round and every store (Avro
``timestamp-micros``, Iceberg ``timestamptz``) takes the value as is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum

from k2.domain.errors import InvalidTimestampError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND = timedelta(microseconds=1)

# Epoch values below this are milliseconds, at or above it microseconds. 1e14 ms is the year 5138
# and 1e14 us is March 1973, so every instant either exchange can publish is unambiguous.
_MICROS_THRESHOLD = 10**14

# RFC 3339 date-time as Kraken v2 writes it ("2023-09-25T07:48:36.925533Z"), offset required.
_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ](?P<time>[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,9}))?(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class TimeUnit(StrEnum):
    """The unit of an integer epoch timestamp on the wire."""

    MILLISECOND = "ms"
    MICROSECOND = "us"


def epoch_to_micros(value: int, unit: TimeUnit | None = None) -> int:
    """An epoch integer in ``unit`` as microseconds; ``unit=None`` infers it from the magnitude.

    Binance sends milliseconds unless the stream was opened with ``timeUnit=MICROSECOND``;
    inferring keeps a feed correct even if the URL parameter is lost on a reconnect.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidTimestampError(f"not a non-negative epoch integer: {value!r}")
    if unit is None:
        unit = TimeUnit.MICROSECOND if value >= _MICROS_THRESHOLD else TimeUnit.MILLISECOND
    return value * 1000 if unit is TimeUnit.MILLISECOND else value


def rfc3339_to_micros(text: str) -> int:
    """An RFC 3339 timestamp as UTC epoch microseconds, exactly.

    Fractions finer than a microsecond are accepted only when the extra digits are zero: a
    nanosecond timestamp cannot be stored in microseconds without rounding, so it is refused.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise InvalidTimestampError(f"not an RFC 3339 timestamp: {text[:40]!r}")
    fraction = match["fraction"] or ""
    if fraction[6:].strip("0"):
        raise InvalidTimestampError(f"finer than a microsecond: {text!r}")
    offset = match["offset"]
    try:
        base = datetime.fromisoformat(f"{match['date']}T{match['time']}")
        if offset in ("Z", "z"):
            tz = UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        instant = base.replace(tzinfo=tz)
    except ValueError as exc:
        raise InvalidTimestampError(f"not a valid date-time: {text!r}") from exc
    micros = (instant - _EPOCH) // _ONE_MICROSECOND + int(fraction[:6].ljust(6, "0"))
    if micros < 0:
        raise InvalidTimestampError(f"before the Unix epoch: {text!r}")
    return micros


def micros_to_rfc3339(micros: int) -> str:
    """The inverse of :func:`rfc3339_to_micros`, for simulators and fixtures."""
    instant = _EPOCH + timedelta(microseconds=micros)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def avro_micros(value: datetime | int) -> int:
    """A ``timestamp-micros`` value as read by fastavro (an aware datetime) back to micros."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // timedelta(microseconds=1)
    return value
