"""DuckDB's exact sums give the same VWAP and TWAP as the general decimal path, or step aside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k2.query import aggregations
from k2.query.aggregations import Metric, PricePoint
from k2.query.exact_totals import native_totals

pytestmark = pytest.mark.unit

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
END_US = 1_800_000_000_000_000
BOTH = {Metric.VWAP, Metric.TWAP}
DECIMAL = pa.decimal128(38, 18)


def _arrow(rows: list[tuple[str, str, int, int, Decimal, Decimal]]) -> pa.Table:
    columns: list[tuple[Any, ...]] = list(zip(*rows, strict=True)) if rows else [()] * 6
    return pa.table(
        {
            "exchange": pa.array(columns[0], pa.string()),
            "symbol": pa.array(columns[1], pa.string()),
            "timestamp": pa.array(
                [EPOCH + timedelta(microseconds=us) for us in columns[2]],
                pa.timestamp("us", tz="UTC"),
            ),
            "trade_id": pa.array(columns[3], pa.int64()),
            "price": pa.array(columns[4], DECIMAL),
            "quantity": pa.array(columns[5], DECIMAL),
        }
    )


def _general(
    rows: list[tuple[str, str, int, int, Decimal, Decimal]],
) -> dict[tuple[str, str], tuple[int, Decimal | None, Decimal | None]]:
    by_instrument: dict[tuple[str, str], list[PricePoint]] = {}
    for exchange, symbol, us, trade_id, price, quantity in rows:
        by_instrument.setdefault((exchange, symbol), []).append(
            PricePoint(us, trade_id, price, quantity)
        )
    return {
        key: (len(points), aggregations.vwap(points), aggregations.twap(points, END_US))
        for key, points in sorted(by_instrument.items())
    }


eight_places = st.integers(min_value=1, max_value=10**18 - 1).map(lambda n: Decimal(n).scaleb(-8))
trade_rows = st.lists(
    st.tuples(
        st.sampled_from([("binance", "BTCUSDT"), ("binance", "ETHUSDT"), ("kraken", "BTCUSD")]),
        st.integers(min_value=END_US - 86_400_000_000, max_value=END_US - 1),
        st.integers(min_value=1, max_value=50),
        eight_places,
        eight_places,
    ),
    min_size=1,
    max_size=60,
    unique_by=lambda t: (t[0], t[2]),
).map(lambda ts: [(ex, sym, us, tid, p, q) for (ex, sym), us, tid, p, q in ts])


@given(trade_rows)
@settings(max_examples=60, deadline=None)
def test_the_same_answer_as_python_decimals(
    rows: list[tuple[str, str, int, int, Decimal, Decimal]],
) -> None:
    totals = native_totals(_arrow(rows), END_US, BOTH)
    assert totals is not None
    got = {(t.exchange, t.symbol): (t.trade_count, t.vwap, t.twap) for t in totals}
    assert got == _general(rows)
    assert list(got) == sorted(got)


def test_only_the_asked_metrics_are_filled() -> None:
    rows = [("binance", "BTCUSDT", END_US - 10, 1, Decimal("1.5"), Decimal(2))]
    (only_vwap,) = native_totals(_arrow(rows), END_US, {Metric.VWAP}) or ()
    assert only_vwap.vwap == Decimal("1.5") and only_vwap.twap is None


@pytest.mark.parametrize(
    "price",
    [Decimal("1.0000000001"), Decimal("12345678901.5")],
    ids=["ten places", "eleven integer digits"],
)
def test_values_beyond_decimal_18_8_take_the_general_path(price: Decimal) -> None:
    rows = [
        ("binance", "BTCUSDT", END_US - 10, 1, Decimal(2), Decimal(1)),
        ("binance", "BTCUSDT", END_US - 5, 2, price, Decimal(1)),
    ]
    assert native_totals(_arrow(rows), END_US, BOTH) is None


def test_a_sum_that_would_overflow_takes_the_general_path() -> None:
    big = Decimal("9999999999.99999999")
    rows = [("kraken", "BTCUSD", END_US - 2000 + i, i, big, big) for i in range(1000)]
    assert native_totals(_arrow(rows), END_US, BOTH) is None


def test_no_trades_no_instruments() -> None:
    assert native_totals(_arrow([]), END_US, BOTH) == ()
