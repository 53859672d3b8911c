"""Whole-range VWAP and TWAP per instrument summed inside DuckDB, exactly, when they can be.

The general path (:mod:`k2.query.aggregations`) turns every trade into Python decimals: exact,
but seconds of CPU for a busy day, which a Lambda pays per request. When every price and quantity
is a ``DECIMAL(18, 8)`` (all the exchanges publish), DuckDB's fixed-point sums are exact, so it
does the sums and Python only the final rounded division. Anything else (more places, a sum that
would overflow) returns None and the caller takes the general path; the answers are identical.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pyarrow as pa

from k2.domain.ohlcv import vwap as rounded_quotient
from k2.query import sql
from k2.query.aggregations import Metric
from k2.query.fields import TRADES
from k2.query.requests import InstrumentAggregation
from k2.query.scan import execute


def native_totals(
    trades: pa.Table, window_end_us: int, metrics: set[Metric]
) -> tuple[InstrumentAggregation, ...] | None:
    """VWAP/TWAP (as asked) per (exchange, symbol) of ``trades`` (all before
    ``window_end_us``), or None when DuckDB cannot sum them exactly."""
    statement = sql.exact_instrument_sums(
        TRADES, window_end_us, time_weighted=Metric.TWAP in metrics
    )
    try:
        rows = execute(trades, statement.sql, statement.parameters).to_pylist()
    except duckdb.OutOfRangeException:  # a sum beyond DECIMAL(38): Python's decimals can
        return None
    if not all(row["fits"] for row in rows):  # some value is not exact in these sums
        return None
    return tuple(
        InstrumentAggregation(
            exchange=row["exchange"],
            symbol=row["symbol"],
            trade_count=row["trade_count"],
            vwap=rounded_quotient(row["notional"], row["volume"])
            if Metric.VWAP in metrics
            else None,
            twap=rounded_quotient(row["time_weighted"], Decimal(window_end_us - row["first_us"]))
            if Metric.TWAP in metrics
            else None,
        )
        for row in rows
    )
