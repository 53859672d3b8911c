"""Exact prices and quantities: one precision and scale for every store (Avro, Iceberg, API).

Chosen type: ``decimal(38, 18)`` -- 20 integer digits and 18 fractional digits.

Why it is wide enough:

* Binance spot publishes prices and quantities as strings with exactly 8 fractional digits and
  stores them as 64-bit fixed point with 8 decimals, so no Binance value exceeds
  ``92233720368.54775807`` (11 integer digits, 8 fractional).
* Kraken spot v2 publishes JSON numbers "with engine precision": pair price precision and lot
  precision stay well inside 10 fractional digits, and the largest magnitudes are meme-coin sizes
  (around 1e11 units) and fiat-quoted prices of a few million (JPY). Kraken's ledger precision for
  an asset is at most 10 decimals.
* 18 fractional digits is the finest unit any major crypto asset uses (ETH wei), so even a
  future listing cannot need more; 20 integer digits exceed the int64 range of either exchange.

Why not narrower: the system we are rebuilding used ``decimal(18, 8)``, which cannot hold a Binance
maximum (19 digits) nor a Kraken value with 9-10 decimals. Why not wider: 38 is the largest
precision Iceberg, Spark, Athena and Glue all accept. (Spark reduces the scale of a product of two
``decimal(38, 18)`` to 6; jobs that multiply price by quantity should say which scale they want.)

A value that does not fit raises :class:`DecimalOutOfRangeError`; it is never rounded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
)

from k2.domain.errors import DecimalOutOfRangeError, InvalidDecimalError

PRECISION = 38
SCALE = 18
INTEGER_DIGITS = PRECISION - SCALE

# Plain decimal text as both exchanges send it, with an optional short exponent (JSON number
# grammar). Rejects NaN, Infinity, whitespace, underscores, a leading '+', '1.' and '.5'; the
# exponent is capped at four digits so no text can reach the limits of the decimal module.
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]{1,4})?")
_MAX_TEXT_LENGTH = 200


def parse_decimal(text: str) -> Decimal:
    """The exact value of decimal text; raises :class:`InvalidDecimalError` for anything else."""
    if len(text) > _MAX_TEXT_LENGTH or not _DECIMAL_TEXT.fullmatch(text):
        raise InvalidDecimalError(f"not a decimal number: {text[:40]!r}")
    try:
        value = Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid text
        raise InvalidDecimalError(f"not a decimal number: {text[:40]!r}") from exc
    return value


def is_decimal_text(text: str) -> bool:
    """Whether :func:`parse_decimal` would accept ``text`` (used to validate raw records)."""
    return len(text) <= _MAX_TEXT_LENGTH and _DECIMAL_TEXT.fullmatch(text) is not None


def check_fits(value: Decimal) -> Decimal:
    """Return ``value`` unchanged if ``decimal(38, 18)`` holds it exactly, else raise.

    Trailing zeros do not count against the scale (``1.50000000000000000000`` fits): only digits
    that carry value do, so the check never depends on how the exchange formatted the number.
    """
    if not value.is_finite():
        raise InvalidDecimalError(f"not a finite decimal: {value}")
    if value.is_zero():
        return value
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    # Drop trailing zeros by integer arithmetic (no decimal context, so nothing can round).
    trailing = len(digits) - len(bytes(digits).rstrip(b"\x00"))
    exponent += trailing
    significant_digits = len(digits) - trailing
    if -exponent > SCALE:
        raise DecimalOutOfRangeError(
            f"{value} has more than {SCALE} fractional digits; decimal({PRECISION},{SCALE})"
        )
    if significant_digits + exponent > INTEGER_DIGITS:
        raise DecimalOutOfRangeError(
            f"{value} has more than {INTEGER_DIGITS} integer digits; decimal({PRECISION},{SCALE})"
        )
    return value


def exact_decimal(text: str) -> Decimal:
    """Parse decimal text and require it to fit ``decimal(38, 18)``: the one entry point for
    turning an exchange's number into a domain value."""
    return check_fits(parse_decimal(text))


# Quantising to the stored scale only adds or drops zeros of a value check_fits accepted; the trap
# on Inexact makes sure it never drops a digit that carries value.
_STORED = Context(prec=PRECISION, traps=[InvalidOperation, Inexact])
_STORED_QUANTUM = Decimal(1).scaleb(-SCALE)


def stored_decimal(value: Decimal) -> Decimal:
    """``value`` with exactly ``SCALE`` fractional digits, as ``decimal(38, 18)`` holds it:
    Arrow refuses a Decimal of another scale (``1.5`` * ``2.0`` has scale 2, a product of two
    stored values scale 36) rather than rescale it. Raises if the value does not fit."""
    return check_fits(value).quantize(_STORED_QUANTUM, context=_STORED)


# Sums and products of decimals are exact whatever their size under this context, and any
# rounding traps. (MAX_PREC is safe for + and *; never divide in it.)
EXACT_ARITHMETIC = Context(
    prec=MAX_PREC,
    Emax=MAX_EMAX,
    Emin=MIN_EMIN,
    traps=[InvalidOperation, DivisionByZero, Overflow, Inexact, Rounded],
)


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """The exact sum (the default 28-digit context would round large or finely scaled sums)."""
    total = Decimal(0)
    for value in values:
        total = EXACT_ARITHMETIC.add(total, value)
    return total


def plain_text(value: Decimal) -> str:
    """A decimal as positional text without trailing zeros (``65000.12``, never ``6.5E+4``):
    how K2 shows and serves stored decimal(38, 18) values, exactly."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
