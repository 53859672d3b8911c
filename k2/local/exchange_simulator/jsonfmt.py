"""JSON text with exact decimal numbers.

Kraken writes prices and quantities as JSON *numbers*; ``json.dumps`` would force us through
``float`` and could change the digits. Here a ``Decimal`` is written as its exact decimal text
and ``RawNumber`` carries pre-formatted number text (e.g. Kraken's REST float seconds).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class RawNumber:
    """Number text written verbatim into the JSON document."""

    text: str


def decimal_text(value: Decimal) -> str:
    """Plain (never scientific) text of a decimal, trailing zeros kept as given."""
    return format(value, "f")


def number_text(value: Decimal) -> str:
    """Kraken-style JSON number: trailing zeros dropped, at least one fractional digit."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0")
        if text.endswith("."):
            text += "0"
    else:
        text += ".0"
    return text


def dumps(value: object) -> str:
    """Compact JSON text in which ``Decimal`` and ``RawNumber`` keep their exact digits."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: object, out: list[str]) -> None:
    if isinstance(value, RawNumber):
        out.append(value.text)
    elif isinstance(value, Decimal):
        out.append(number_text(value))
    elif value is None or isinstance(value, bool | int | float | str):
        out.append(json.dumps(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for index, (key, item) in enumerate(value.items()):
            if index:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _write(item, out)
        out.append("}")
    elif isinstance(value, Sequence):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
