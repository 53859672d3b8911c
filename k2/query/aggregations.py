"""Trade aggregations, exact where their definition is exact: pure, no I/O.

Every function takes the trades of *one* instrument (exchange, symbol). Sums and products of
decimals are exact (no 28-digit context rounding); each average is a quotient rounded once to
18 places, half up, by :func:`k2.domain.ohlcv.vwap` -- the same rule as the stored bars.

* **VWAP** = Σ(price x quantity) / Σ quantity.
* **TWAP** over a window ``[w0, w1)``: order the window's trades by ``(timestamp, trade_id)``
  as ``t_1 .. t_n``. Each price holds from its trade until the next trade, the last one until
  the window end ``w1``; so trade ``i`` weighs ``t_{i+1} - t_i`` µs (``w1 - t_n`` for the last)
  and ``TWAP = Σ price_i x weight_i / (w1 - t_1)``. Trades sharing a timestamp weigh 0 except
  the last of them (its price is the one that stood). The time before the first trade,
  ``[w0, t_1)``, has no price in the window and is not counted (no price is carried in from an
  earlier window). Not a plain average of prices: a price that stood an hour counts an hour.
* **OHLCV buckets** at any interval: epoch-aligned ``[start, start + interval)`` windows, open
  and close by ``(timestamp, trade_id)`` order, as :mod:`k2.domain.ohlcv` defines bars.
* **Volume profile**: quantity and trade count per price level ``[k x step, (k+1) x step)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from itertools import groupby

from k2.domain.decimals import EXACT_ARITHMETIC, exact_sum
from k2.domain.ohlcv import vwap as rounded_quotient
from k2.query.errors import InvalidParameterError, LimitExceededError
from k2.query.limits import MAX_BUCKETS, MAX_INTERVAL, MAX_PRICE_BUCKETS, MIN_INTERVAL
from k2.query.params import TimeRange


class Metric(StrEnum):
    VWAP = "vwap"
    TWAP = "twap"
    OHLCV = "ohlcv"
    VOLUME_PROFILE = "volume_profile"


@dataclass(frozen=True, slots=True)
class PricePoint:
    """What an aggregation needs of a trade."""

    timestamp_us: int
    trade_id: int
    price: Decimal
    quantity: Decimal


@dataclass(frozen=True, slots=True)
class Bucket:
    """One time bucket of one instrument; ``start_us``/``end_us`` are the bucket's bounds, the
    TWAP window is the bucket clipped to the request's range."""

    start_us: int
    end_us: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    notional: Decimal
    trade_count: int
    vwap: Decimal
    twap: Decimal


@dataclass(frozen=True, slots=True)
class PriceLevel:
    price_low: Decimal
    price_high: Decimal
    volume: Decimal
    trade_count: int


def _ordered(trades: Iterable[PricePoint]) -> list[PricePoint]:
    return sorted(trades, key=lambda trade: (trade.timestamp_us, trade.trade_id))


def vwap(trades: Iterable[PricePoint]) -> Decimal | None:
    """Σ(price x quantity) / Σ quantity at 18 places; None without trades."""
    trades = list(trades)
    if not trades:
        return None
    notional = exact_sum(EXACT_ARITHMETIC.multiply(t.price, t.quantity) for t in trades)
    return rounded_quotient(notional, exact_sum(t.quantity for t in trades))


def twap(trades: Iterable[PricePoint], window_end_us: int) -> Decimal | None:
    """Time-weighted average price until ``window_end_us`` (see the module doc); None without
    trades. Every trade must be before ``window_end_us``."""
    ordered = _ordered(trades)
    if not ordered:
        return None
    if ordered[-1].timestamp_us >= window_end_us:
        raise ValueError("a trade at or after the TWAP window's end")
    ends = [trade.timestamp_us for trade in ordered[1:]] + [window_end_us]
    weighted = exact_sum(
        EXACT_ARITHMETIC.multiply(trade.price, Decimal(end - trade.timestamp_us))
        for trade, end in zip(ordered, ends, strict=True)
    )
    return rounded_quotient(weighted, Decimal(window_end_us - ordered[0].timestamp_us))


def check_interval(interval_us: int, within: TimeRange) -> int:
    """A bucket width in [MIN_INTERVAL, MAX_INTERVAL] giving at most MAX_BUCKETS buckets."""
    low, high = MIN_INTERVAL.total_seconds() * 1e6, MAX_INTERVAL.total_seconds() * 1e6
    if isinstance(interval_us, bool) or not isinstance(interval_us, int):
        raise InvalidParameterError("interval must be a whole number of microseconds")
    if not low <= interval_us <= high:
        raise InvalidParameterError(f"interval must be between {MIN_INTERVAL} and {MAX_INTERVAL}")
    first = bucket_start(within.start_us, interval_us)
    count = -(-(within.end_us - first) // interval_us)
    if count > MAX_BUCKETS:
        raise LimitExceededError(f"{count} buckets; at most {MAX_BUCKETS} per request")
    return interval_us


def bucket_start(timestamp_us: int, interval_us: int) -> int:
    """Start of the epoch-aligned bucket holding ``timestamp_us`` (floor, also before 1970)."""
    return timestamp_us - timestamp_us % interval_us


def buckets(trades: Iterable[PricePoint], interval_us: int, within: TimeRange) -> list[Bucket]:
    """OHLCV, VWAP and TWAP per non-empty bucket, oldest first. Trades outside ``within`` are
    an error (the caller filtered them). TWAP windows end at ``min(bucket end, within.end)``."""
    ordered = _ordered(trades)
    if ordered and (
        ordered[0].timestamp_us < within.start_us or ordered[-1].timestamp_us >= within.end_us
    ):
        raise ValueError("trades outside the aggregation's time range")
    result = []
    for start, group in groupby(ordered, key=lambda t: bucket_start(t.timestamp_us, interval_us)):
        members = list(group)
        end = start + interval_us
        notional = exact_sum(EXACT_ARITHMETIC.multiply(t.price, t.quantity) for t in members)
        volume = exact_sum(t.quantity for t in members)
        twap_value = twap(members, min(end, within.end_us))
        assert twap_value is not None  # members is never empty
        result.append(
            Bucket(
                start_us=start,
                end_us=end,
                open=members[0].price,
                high=max(t.price for t in members),
                low=min(t.price for t in members),
                close=members[-1].price,
                volume=volume,
                notional=notional,
                trade_count=len(members),
                vwap=rounded_quotient(notional, volume),
                twap=twap_value,
            )
        )
    return result


def price_level(price: Decimal, step: Decimal) -> int:
    """``k`` such that ``k x step <= price < (k + 1) x step``, by exact integer arithmetic."""
    p_num, p_den = price.as_integer_ratio()
    s_num, s_den = step.as_integer_ratio()
    return (p_num * s_den) // (p_den * s_num)


def check_step(step: Decimal) -> Decimal:
    if not isinstance(step, Decimal) or not step.is_finite() or step <= 0:
        raise InvalidParameterError(f"price step must be a positive decimal, got {step!r}")
    return step


def volume_profile(trades: Iterable[PricePoint], step: Decimal) -> list[PriceLevel]:
    """Quantity and count per price level of width ``step``, lowest price first; at most
    MAX_PRICE_BUCKETS levels (else :class:`LimitExceededError`)."""
    check_step(step)
    volumes: dict[int, list[Decimal]] = {}
    for trade in trades:
        level = price_level(trade.price, step)
        if level not in volumes and len(volumes) >= MAX_PRICE_BUCKETS:
            raise LimitExceededError(
                f"more than {MAX_PRICE_BUCKETS} price levels; use a larger price step"
            )
        volumes.setdefault(level, []).append(trade.quantity)
    return [
        PriceLevel(
            price_low=EXACT_ARITHMETIC.multiply(Decimal(level), step),
            price_high=EXACT_ARITHMETIC.multiply(Decimal(level + 1), step),
            volume=exact_sum(quantities),
            trade_count=len(quantities),
        )
        for level, quantities in sorted(volumes.items())
    ]


def points(rows: Sequence[tuple[int, int, Decimal, Decimal]]) -> list[PricePoint]:
    """``(timestamp µs, trade id, price, quantity)`` tuples as price points."""
    return [PricePoint(ts, trade_id, price, quantity) for ts, trade_id, price, quantity in rows]
