"""The DuckDB statements the engine runs over a scan: pure, no I/O.

Identifiers come only from a table's allow-list (:class:`~k2.query.fields.QueryableTable`) and
are quoted; every value is a named parameter (``$p0`` ...), so no request value is ever part of
the SQL text. Ordering is always a total order (the table's ``order_key``), so pages and ties
are deterministic; a keyset page reads rows strictly after the previous page's last key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from k2.query.fields import QueryableTable
from k2.query.scan import SCAN_VIEW

Operator = Literal[">=", "<=", ">", "<", "="]
_OPERATORS: frozenset[str] = frozenset({">=", "<=", ">", "<", "="})


@dataclass(frozen=True)
class Bound:
    """``field op value``, e.g. ``price >= 100``."""

    field: str
    op: Operator
    value: Any


@dataclass(frozen=True)
class Statement:
    sql: str
    parameters: dict[str, Any] = field(default_factory=dict)


class _Parameters:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def _after(table: QueryableTable, key: Sequence[Any], params: _Parameters) -> str:
    """Rows strictly after ``key`` in ``table.order_key`` (ascending), expanded
    lexicographically: ``a > $a OR (a = $a AND (b > $b OR ...))``."""
    columns = table.order_key
    if len(key) != len(columns):
        raise ValueError(f"a key of {len(columns)} values was expected, got {len(key)}")
    names = [params.add(value) for value in key]
    condition = f"{table.identifier(columns[-1])} > {names[-1]}"
    for column, name in zip(reversed(columns[:-1]), reversed(names[:-1]), strict=True):
        quoted = table.identifier(column)
        condition = f"{quoted} > {name} OR ({quoted} = {name} AND ({condition}))"
    return condition


def select_rows(
    table: QueryableTable,
    fields: Sequence[str],
    limit: int,
    bounds: Sequence[Bound] = (),
    after: Sequence[Any] | None = None,
    descending: bool = False,
) -> Statement:
    """``fields`` of the rows within ``bounds`` (and after the key ``after``), in the table's
    order (or its reverse), at most ``limit`` rows."""
    params = _Parameters()
    columns = ", ".join(table.identifier(name) for name in fields)
    conditions = []
    for bound in bounds:
        if bound.op not in _OPERATORS:
            raise ValueError(f"unsupported operator {bound.op!r}")
        conditions.append(f"{table.identifier(bound.field)} {bound.op} {params.add(bound.value)}")
    if after is not None:
        if descending:
            raise ValueError("keyset pages run in ascending order")
        conditions.append(f"({_after(table, after, params)})")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    direction = " DESC" if descending else ""
    order = ", ".join(f"{table.identifier(name)}{direction}" for name in table.order_key)
    limit_param = params.add(limit)
    sql = f"SELECT {columns} FROM {SCAN_VIEW}{where} ORDER BY {order} LIMIT {limit_param}"  # noqa: S608 - identifiers allow-listed, values bound
    return Statement(sql, params.values)


def distinct_instruments(table: QueryableTable) -> Statement:
    """Each (exchange, symbol) with rows, sorted."""
    exchange, symbol = table.identifier("exchange"), table.identifier("symbol")
    return Statement(
        f"SELECT DISTINCT {exchange}, {symbol} FROM {SCAN_VIEW} ORDER BY {exchange}, {symbol}"  # noqa: S608
    )


def instrument_stats(table: QueryableTable) -> Statement:
    """Row count and first/last time per (exchange, symbol), sorted."""
    exchange, symbol = table.identifier("exchange"), table.identifier("symbol")
    time = table.identifier(table.time_column)
    return Statement(
        f"SELECT {exchange}, {symbol}, count(*) AS row_count, min({time}) AS first_time, "  # noqa: S608
        f"max({time}) AS last_time FROM {SCAN_VIEW} GROUP BY {exchange}, {symbol} "
        f"ORDER BY {exchange}, {symbol}"
    )


def trades_for_aggregation(table: QueryableTable) -> Statement:
    """What aggregations read per trade, grouped by instrument and in trade order."""
    ts = table.identifier("timestamp")
    exchange, symbol = table.identifier("exchange"), table.identifier("symbol")
    trade_id = table.identifier("trade_id")
    return Statement(
        f"SELECT {exchange}, {symbol}, epoch_us({ts}) AS ts, {trade_id}, "  # noqa: S608
        f"{table.identifier('price')}, {table.identifier('quantity')} FROM {SCAN_VIEW} "
        f"ORDER BY {exchange}, {symbol}, {ts}, {trade_id}"
    )


NATIVE_DECIMAL = "DECIMAL(18, 8)"
"""Every price and quantity Binance and Kraken publish fits (10 integer digits, 8 places), so a
product has at most 20 integer digits and 16 places: exact in :data:`WIDE_DECIMAL` arithmetic."""
WIDE_DECIMAL = "DECIMAL(38, 8)"
"""The same values in 128-bit storage (DuckDB multiplies two DECIMAL(18) in 64 bits and
overflows; with 38 digits the product's type is DECIMAL(38, 16))."""


def _fits_native_decimal(table: QueryableTable) -> str:
    """Whether a row's price and quantity are exactly :data:`NATIVE_DECIMAL` values (more places
    are rounded by the cast, a larger value fails it: both compare false)."""
    return " AND ".join(
        f"coalesce(TRY_CAST({table.identifier(name)} AS {NATIVE_DECIMAL}) = "
        f"{table.identifier(name)}, false)"
        for name in ("price", "quantity")
    )


def exact_instrument_sums(
    table: QueryableTable, window_end_us: int, *, time_weighted: bool = True
) -> Statement:
    """Per (exchange, symbol), sorted: trade count, Σ price x quantity, Σ quantity, and (with
    ``time_weighted``) Σ price x µs held until the next trade (by timestamp, trade_id; the last
    until ``window_end_us``) with the first trade's time. The sums are exact where ``fits``
    (every row's values are :data:`NATIVE_DECIMAL`); DuckDB raises on overflow rather than round.
    """
    params = _Parameters()
    exchange, symbol = table.identifier("exchange"), table.identifier("symbol")
    ts, trade_id = table.identifier("timestamp"), table.identifier("trade_id")
    price = f"CAST({table.identifier('price')} AS {WIDE_DECIMAL})"
    quantity = f"CAST({table.identifier('quantity')} AS {WIDE_DECIMAL})"
    held, weighted = "NULL", "NULL"
    if time_weighted:  # a window over every trade: only when TWAP is asked for
        held = (
            f"coalesce(lead(epoch_us({ts})) OVER (PARTITION BY {exchange}, {symbol} "
            f"ORDER BY {ts}, {trade_id}), {params.add(window_end_us)}) - epoch_us({ts})"
        )
        weighted = "sum(price * CAST(held AS DECIMAL(38, 0)))"
    return Statement(
        f"SELECT {exchange} AS exchange, {symbol} AS symbol, count(*) AS trade_count, "  # noqa: S608
        "bool_and(fits) AS fits, sum(price * quantity) AS notional, sum(quantity) AS volume, "
        f"{weighted} AS time_weighted, min(us) AS first_us "
        f"FROM (SELECT {exchange}, {symbol}, {price} AS price, {quantity} AS quantity, "
        f"{_fits_native_decimal(table)} AS fits, "
        f"epoch_us({ts}) AS us, {held} AS held FROM {SCAN_VIEW}) "
        f"GROUP BY {exchange}, {symbol} ORDER BY {exchange}, {symbol}",
        params.values,
    )
