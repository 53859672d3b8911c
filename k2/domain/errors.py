"""Why a value could not become part of a normalised record.

Every error carries a short machine-readable ``reason`` so that a record which fails normalisation
can be sent to a DLQ with a stable, countable cause rather than a free-text message.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(ValueError):
    """A value that cannot be represented in the normalised model. Never silently repaired."""

    reason: ClassVar[str] = "invalid_value"


class InvalidDecimalError(DomainError):
    """The text is not a finite decimal number."""

    reason: ClassVar[str] = "invalid_decimal"


class DecimalOutOfRangeError(DomainError):
    """A decimal needs more digits than the storage type has; rounding it would change data."""

    reason: ClassVar[str] = "decimal_out_of_range"


class InvalidTimestampError(DomainError):
    """A timestamp that is not a UTC instant representable in whole microseconds."""

    reason: ClassVar[str] = "invalid_timestamp"


class UnknownSymbolError(DomainError):
    """An exchange symbol that cannot be split into base and quote assets."""

    reason: ClassVar[str] = "unknown_symbol"


class InvalidSideError(DomainError):
    """A taker side the exchange documents no meaning for."""

    reason: ClassVar[str] = "invalid_side"


class InvalidIdentifierError(DomainError):
    """An id or id component that would make a deterministic id ambiguous."""

    reason: ClassVar[str] = "invalid_identifier"
