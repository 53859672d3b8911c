"""How numbers are written in formulas and tables, so the model and the report agree."""

from __future__ import annotations

from decimal import Decimal


def num(value: Decimal) -> str:
    """A quantity, with as many places as help a reader redo the sum and no more."""
    magnitude = abs(value)
    if value == value.to_integral_value() or magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:,.2f}"
    if magnitude >= Decimal("0.0001"):
        return f"{value:,.4f}".rstrip("0")
    return format(value.normalize(), "f")


def usd(value: Decimal) -> str:
    """Money to the cent."""
    return f"${value:,.2f}"


def unit_price(value: Decimal) -> str:
    """A published price exactly as published, but never fewer than two places."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return f"${value:,.2f}"
    return "$" + format(value.normalize(), ",f")
