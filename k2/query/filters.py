"""The pyiceberg row filter a request implies: pure, no I/O.

Built from the request's symbols, exchanges and time range on the table's time column (its
partition source), so pyiceberg can skip partitions (day, symbol) and files whose column
statistics cannot match before anything is read. Values are pyiceberg literals, never text.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    LessThan,
)

from k2.query.fields import QueryableTable
from k2.query.params import TimeRange

# (The pydantic mypy plugin misreads the expressions' own __init__; see k2/query/ohlcv_check.py.)


def _one_of(column: str, values: Sequence[str]) -> BooleanExpression:
    if len(values) == 1:
        return EqualTo(term=column, literal=values[0])  # type: ignore[call-arg]
    return In(term=column, literals=set(values))


def row_filter(
    table: QueryableTable,
    symbols: Sequence[str] = (),
    exchanges: Sequence[str] = (),
    time: TimeRange | None = None,
    time_from_us: int | None = None,
) -> BooleanExpression:
    """Rows of the given symbols and exchanges (empty: all) with the time column in ``time``
    and, if given, at or after ``time_from_us`` (a replay page's lower bound)."""
    parts: list[BooleanExpression] = []
    if symbols:
        parts.append(_one_of("symbol", symbols))
    if exchanges:
        parts.append(_one_of("exchange", exchanges))
    if time is not None:
        parts.append(GreaterThanOrEqual(term=table.time_column, literal=time.start_us))  # type: ignore[call-arg]
        parts.append(LessThan(term=table.time_column, literal=time.end_us))  # type: ignore[call-arg]
    if time_from_us is not None:
        parts.append(GreaterThanOrEqual(term=table.time_column, literal=time_from_us))  # type: ignore[call-arg]
    if not parts:
        return AlwaysTrue()
    return parts[0] if len(parts) == 1 else And(*parts)
