"""Request values made safe and canonical before they reach a query: pure, no I/O.

Times are accepted as aware datetimes or ISO-8601 text *with* a zone (a naive time names no
instant, so it is refused, not guessed) and become UTC epoch microseconds, the unit every K2
table stores. Symbols are case-insensitive (normalised to upper case, the lake's spelling);
exchanges likewise (lower case). Ranges are half-open ``[start, end)`` so adjacent ranges and
buckets never share a row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from k2.domain.markets import Exchange
from k2.query.errors import (
    InvalidExchangeError,
    InvalidParameterError,
    InvalidSymbolError,
    InvalidTimeRangeError,
    InvalidTimestampError,
    LimitExceededError,
    TimeRangeTooLargeError,
    TimestampWithoutZoneError,
)
from k2.query.limits import MAX_SYMBOLS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_TIME_TEXT = 64
# A normalised symbol: base + quote, no separator (k2.domain.symbols), e.g. BTCUSDT, 1INCHUSD.
_SYMBOL = re.compile(r"[A-Z0-9]{2,32}")


def to_micros(moment: datetime) -> int:
    """An aware datetime as UTC epoch microseconds (exact: datetimes hold whole µs)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise TimestampWithoutZoneError(
            f"timestamp without a zone: {moment.isoformat()} (add Z or an offset like +00:00)"
        )
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_micros(micros: int) -> datetime:
    """UTC epoch microseconds as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=micros)


def parse_time(value: str | datetime) -> int:
    """ISO-8601 text with a zone (``2026-01-22T14:00:00Z``, ``...+02:00``) or an aware datetime,
    as UTC epoch microseconds. Naive values raise :class:`TimestampWithoutZoneError`."""
    if isinstance(value, datetime):
        return to_micros(value)
    if not isinstance(value, str) or len(value) > _MAX_TIME_TEXT:
        raise InvalidTimestampError(f"not an ISO-8601 timestamp: {str(value)[:40]!r}")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidTimestampError(f"not an ISO-8601 timestamp: {value[:40]!r}") from exc
    return to_micros(moment)


@dataclass(frozen=True, slots=True)
class TimeRange:
    """``[start_us, end_us)`` in UTC epoch microseconds; never empty."""

    start_us: int
    end_us: int

    def __post_init__(self) -> None:
        if self.end_us <= self.start_us:
            raise InvalidTimeRangeError(
                f"empty time range: end {from_micros(self.end_us).isoformat()} is not after "
                f"start {from_micros(self.start_us).isoformat()}"
            )

    @property
    def span(self) -> timedelta:
        return timedelta(microseconds=self.end_us - self.start_us)

    def check_span(self, most: timedelta) -> TimeRange:
        """Self, or :class:`TimeRangeTooLargeError` if wider than ``most``."""
        if self.span > most:
            raise TimeRangeTooLargeError(f"time range {self.span} is wider than {most}")
        return self


def time_range(start: str | datetime, end: str | datetime) -> TimeRange:
    """A range from two request values (see :func:`parse_time`)."""
    return TimeRange(parse_time(start), parse_time(end))


def normalise_symbol(symbol: str) -> str:
    """``btcusdt`` -> ``BTCUSDT``; anything that cannot be a normalised symbol is refused, so
    a hostile string never reaches a query (it would match nothing anyway)."""
    if not isinstance(symbol, str):
        raise InvalidSymbolError(f"symbol must be text, got {type(symbol).__name__}")
    normalised = symbol.strip().upper()
    if not _SYMBOL.fullmatch(normalised):
        raise InvalidSymbolError(
            f"not a symbol: {symbol[:40]!r} (letters and digits, e.g. BTCUSDT)"
        )
    return normalised


def normalise_symbols(symbols: Iterable[str]) -> tuple[str, ...]:
    """Distinct normalised symbols, sorted; at most :data:`MAX_SYMBOLS`. Empty means all."""
    normalised = tuple(sorted({normalise_symbol(symbol) for symbol in symbols}))
    if len(normalised) > MAX_SYMBOLS:
        raise LimitExceededError(f"{len(normalised)} symbols; at most {MAX_SYMBOLS} per request")
    return normalised


def normalise_exchange(exchange: str) -> str:
    """``BINANCE`` -> ``binance``; only exchanges K2 captures."""
    if isinstance(exchange, str):
        candidate = exchange.strip().lower()
        if candidate in {member.value for member in Exchange}:
            return candidate
    known = ", ".join(member.value for member in Exchange)
    raise InvalidExchangeError(f"unknown exchange {str(exchange)[:40]!r} (one of {known})")


def normalise_exchanges(exchanges: Iterable[str]) -> tuple[str, ...]:
    """Distinct normalised exchanges, sorted. Empty means all."""
    return tuple(sorted({normalise_exchange(exchange) for exchange in exchanges}))


def check_limit(limit: int, most: int) -> int:
    """A page size in ``1..most``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidParameterError(f"limit must be a positive integer, got {limit!r}")
    if limit > most:
        raise LimitExceededError(f"limit {limit} is above the maximum {most}")
    return limit
