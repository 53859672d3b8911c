"""Errors a caller can fix: each has a stable machine-readable ``code`` and an HTTP status hint.

The API maps a :class:`QueryError` to ``{success: false, error: {code, message}}`` with
``status``; anything else escaping the engine is a server fault (5xx). Codes are part of the
API's contract, so they never change meaning.
"""

from __future__ import annotations

from typing import ClassVar


class QueryError(ValueError):
    """A request the engine refuses; ``code`` is stable, the message is for humans."""

    code: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400


class InvalidParameterError(QueryError):
    code = "invalid_parameter"


class TimestampWithoutZoneError(QueryError):
    """A naive time: which instant it means depends on a zone the caller did not give."""

    code = "timestamp_without_zone"


class InvalidTimestampError(QueryError):
    code = "invalid_timestamp"


class InvalidTimeRangeError(QueryError):
    code = "invalid_time_range"


class TimeRangeTooLargeError(QueryError):
    code = "time_range_too_large"


class LimitExceededError(QueryError):
    """A limit (rows, symbols, buckets, ...) above what one request may ask for."""

    code = "limit_exceeded"


class InvalidSymbolError(QueryError):
    code = "invalid_symbol"


class InvalidExchangeError(QueryError):
    code = "invalid_exchange"


class UnknownFieldError(QueryError):
    """A field name not in the table's allow-list (identifiers never come from the caller)."""

    code = "unknown_field"


class InvalidCursorError(QueryError):
    """A cursor that is malformed, tampered with, of another version or another request."""

    code = "invalid_cursor"


class SnapshotNotFoundError(QueryError):
    code = "snapshot_not_found"
    status = 404


class AsOfBeforeFirstSnapshotError(QueryError):
    """``as_of`` earlier than the table's first snapshot: the table did not exist yet."""

    code = "as_of_before_first_snapshot"
    status = 404


class SnapshotExpiredError(QueryError):
    """The snapshot current at ``as_of`` has been expired by table maintenance."""

    code = "snapshot_expired"
    status = 410


class InvalidTimeTravelError(QueryError):
    code = "invalid_time_travel"


class TooManyRowsError(QueryError):
    """The data an aggregation would have to read exceeds what one request may read."""

    code = "too_many_rows"
    status = 413
