"""OHLCV bars: the one definition of a bar that the Spark job, the API and ``k2 ohlcv check`` share.

A bar is a pure function of the *set* of gold trades in its window, nothing else:

* **open/close by trade order, not row order.** Open is the price of the earliest trade ordered by
  ``(timestamp, trade_id)``, close the latest by the same order. The system we are rebuilding took
  ``first``/``last`` after an ``orderBy``, which Spark does not preserve through a ``groupBy``.
* **Recompute, never accumulate.** Because a bar depends only on its window's trades, an
  incremental run recomputes every window its new trades touch from all of gold and replaces
  those bars. The old MERGE added a re-read lookback's volume to the stored volume and counted
  overlapping trades twice.
* **Exact.** Prices, volume and notional are ``Decimal`` sums and products that fit
  ``decimal(38, 18)`` or raise :class:`~k2.domain.errors.DecimalOutOfRangeError`; only VWAP, a
  quotient, is rounded, once, by a documented rule (:func:`vwap`).
* **Epoch-aligned windows.** Windows are tumbling, ``[start, start + duration)``, aligned to the
  UTC epoch, so a 1d bar is a UTC calendar day and every finer bar nests in exactly one coarser
  bar, which is what makes :func:`roll_up` exact.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from k2.domain.decimals import EXACT_ARITHMETIC, SCALE, check_fits, exact_sum
from k2.domain.errors import DomainError, InvalidIdentifierError
from k2.domain.timestamps import micros_to_rfc3339
from k2.domain.trade import TradeV2, check_micros

MINUTE_MICROS = 60 * 1_000_000
HOUR_MICROS = 60 * MINUTE_MICROS
DAY_MICROS = 24 * HOUR_MICROS


class Timeframe(StrEnum):
    """A bar duration; the value is the suffix of its table (``gold_ohlcv_1m``) and API path.

    Members are declared finest first, so iterating gives finest to coarsest.
    """

    ONE_MINUTE = "1m"
    FIVE_MINUTES = "5m"
    THIRTY_MINUTES = "30m"
    ONE_HOUR = "1h"
    ONE_DAY = "1d"

    @property
    def micros(self) -> int:
        """The duration in microseconds, the unit every K2 timestamp uses."""
        return _TIMEFRAME_MICROS[self]


_TIMEFRAME_MICROS: Mapping[Timeframe, int] = MappingProxyType(
    {
        Timeframe.ONE_MINUTE: MINUTE_MICROS,
        Timeframe.FIVE_MINUTES: 5 * MINUTE_MICROS,
        Timeframe.THIRTY_MINUTES: 30 * MINUTE_MICROS,
        Timeframe.ONE_HOUR: HOUR_MICROS,
        Timeframe.ONE_DAY: DAY_MICROS,
    }
)

DEFAULT_RETENTION_DAYS: Mapping[Timeframe, int] = MappingProxyType(
    {
        Timeframe.ONE_MINUTE: 90,
        Timeframe.FIVE_MINUTES: 180,
        Timeframe.THIRTY_MINUTES: 365,
        Timeframe.ONE_HOUR: 3 * 365,
        Timeframe.ONE_DAY: 5 * 365,
    }
)
"""Days a bar is kept, by timeframe: finer bars are many and mostly read while recent."""


def window_start(timestamp_us: int, timeframe: Timeframe) -> int:
    """Start (inclusive) of the window holding ``timestamp_us``, aligned to the UTC epoch.

    Floor division, so an instant exactly on a boundary opens the next window and the result is
    right for timestamps before the epoch too.
    """
    return timestamp_us - timestamp_us % timeframe.micros


def window_end(timestamp_us: int, timeframe: Timeframe) -> int:
    """End (exclusive) of the window holding ``timestamp_us``: start plus the duration."""
    return window_start(timestamp_us, timeframe) + timeframe.micros


ROLLED_UP_FROM: Mapping[Timeframe, Timeframe] = MappingProxyType(
    {
        Timeframe.FIVE_MINUTES: Timeframe.ONE_MINUTE,
        Timeframe.THIRTY_MINUTES: Timeframe.FIVE_MINUTES,
        Timeframe.ONE_HOUR: Timeframe.THIRTY_MINUTES,
        Timeframe.ONE_DAY: Timeframe.ONE_HOUR,
    }
)
"""What each coarser timeframe's bars are rolled up from: the next finer one, so each roll-up
reads few rows (24 hourly bars for a day, not 1,440 minute bars) and all five agree."""


def check_roll_up(finer: Timeframe, coarser: Timeframe) -> None:
    """Raise ``ValueError`` unless bars of ``finer`` tile each ``coarser`` window exactly."""
    if coarser.micros <= finer.micros:
        raise ValueError(f"cannot roll {finer} bars up to {coarser}: {coarser} is not coarser")
    if coarser.micros % finer.micros:
        raise ValueError(f"cannot roll {finer} bars up to {coarser}: {finer} does not divide it")


def trade_notional(price: Decimal, quantity: Decimal) -> Decimal:
    """``price * quantity`` exactly; raises :class:`DecimalOutOfRangeError` if
    ``decimal(38, 18)`` cannot hold it, never rounds (the default 28-digit context would)."""
    return check_fits(EXACT_ARITHMETIC.multiply(price, quantity))


def _vwap_unchecked(notional: Decimal, volume: Decimal) -> Decimal:
    if not (notional.is_finite() and volume.is_finite()) or volume <= 0:
        raise ValueError(f"VWAP needs a finite notional and a positive volume, got {volume}")
    # notional / volume as an exact fraction of integers, times 10**SCALE, rounded once.
    n_num, n_den = notional.as_integer_ratio()
    v_num, v_den = volume.as_integer_ratio()
    numerator = n_num * v_den * 10**SCALE
    denominator = n_den * v_num
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)  # half away from zero
    sign = "-" if numerator < 0 else ""
    return Decimal(f"{sign}{magnitude}E-{SCALE}")  # the string constructor is exact


def vwap(notional: Decimal, volume: Decimal) -> Decimal:
    """Volume-weighted average price: ``notional / volume`` rounded to ``SCALE`` (18) places.

    The quotient is computed exactly (as a ratio of integers) and rounded once, ``ROUND_HALF_UP``
    (ties away from zero): the rounding mode Spark applies to decimal results (Java's
    ``HALF_UP``), so a Spark job that produces a ``decimal(38, 18)`` VWAP agrees with this
    function. Note that Spark's ``/`` on two ``decimal(38, 18)`` columns yields
    ``decimal(38, 6)``, so a job must not rely on the operator's own result type.
    """
    return check_fits(_vwap_unchecked(notional, volume))


@dataclass(frozen=True, slots=True, order=True)
class BarKey:
    """What identifies a bar within one timeframe: the table's MERGE key."""

    exchange: str
    symbol: str
    window_start: int

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} {micros_to_rfc3339(self.window_start)}"


@dataclass(frozen=True, slots=True)
class BarTrade:
    """The minimum a bar needs from a gold trade.

    ``exchange`` may be an :class:`~k2.domain.markets.Exchange` (a ``str``) or its value; bars
    carry the plain value. Values are checked as silver checks them, so a bar can only be built
    from trades gold could hold.
    """

    exchange: str
    symbol: str
    trade_id: int
    timestamp: int
    price: Decimal
    quantity: Decimal

    def __post_init__(self) -> None:
        if isinstance(self.trade_id, bool) or not isinstance(self.trade_id, int):
            raise InvalidIdentifierError(f"trade_id must be an int: {self.trade_id!r}")
        check_micros("timestamp", self.timestamp)
        for name in ("price", "quantity"):
            value = getattr(self, name)
            if not isinstance(value, Decimal):  # a float here would already have rounded
                raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
            check_fits(value)
            if value <= 0:
                raise ValueError(f"{name} must be positive: {value}")

    @property
    def key(self) -> tuple[str, str, int]:
        """Gold's unique key: the same trade replayed has the same key."""
        return (str(self.exchange), self.symbol, self.trade_id)

    @classmethod
    def from_trade(cls, trade: TradeV2) -> BarTrade:
        return cls(
            exchange=str(trade.exchange),
            symbol=trade.symbol,
            trade_id=trade.trade_id,
            timestamp=trade.timestamp,
            price=trade.price,
            quantity=trade.quantity,
        )


class ConflictingTradeError(ValueError):
    """Two trades share (exchange, symbol, trade_id) but differ: gold's dedup key is broken, and
    choosing either copy would publish a bar nobody can reproduce."""


@dataclass(frozen=True, slots=True)
class OhlcvBar:
    """One bar. The constructor does not check the invariants, so that a broken row read from a
    table can still be represented and reported by :func:`bar_violations`."""

    exchange: str
    symbol: str
    timeframe: Timeframe
    window_start: int
    window_end: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    notional: Decimal
    trade_count: int
    first_trade_id: int
    first_trade_time: int
    last_trade_id: int
    last_trade_time: int

    @property
    def vwap(self) -> Decimal:
        """Derived, not stored separately, so it can never disagree with notional and volume."""
        return vwap(self.notional, self.volume)

    @property
    def key(self) -> BarKey:
        return BarKey(str(self.exchange), self.symbol, self.window_start)


def _trade_order(trade: BarTrade) -> tuple[int, int]:
    return (trade.timestamp, trade.trade_id)


def _deduplicated(trades: Iterable[BarTrade]) -> list[BarTrade]:
    unique: dict[tuple[str, str, int], BarTrade] = {}
    for trade in trades:
        kept = unique.setdefault(trade.key, trade)
        if kept != trade:
            raise ConflictingTradeError(
                f"trade {trade.key} appears twice with different content: {kept} and {trade}"
            )
    return list(unique.values())


def _bar_of(key: BarKey, timeframe: Timeframe, trades: Sequence[BarTrade]) -> OhlcvBar:
    first = min(trades, key=_trade_order)
    last = max(trades, key=_trade_order)
    return OhlcvBar(
        exchange=key.exchange,
        symbol=key.symbol,
        timeframe=timeframe,
        window_start=key.window_start,
        window_end=key.window_start + timeframe.micros,
        open=first.price,
        high=max(trade.price for trade in trades),
        low=min(trade.price for trade in trades),
        close=last.price,
        volume=check_fits(exact_sum(trade.quantity for trade in trades)),
        notional=check_fits(exact_sum(trade_notional(t.price, t.quantity) for t in trades)),
        trade_count=len(trades),
        first_trade_id=first.trade_id,
        first_trade_time=first.timestamp,
        last_trade_id=last.trade_id,
        last_trade_time=last.timestamp,
    )


def bars_from_trades(trades: Iterable[BarTrade], timeframe: Timeframe) -> list[OhlcvBar]:
    """The bars of ``timeframe`` for ``trades``, sorted by (exchange, symbol, window_start).

    Duplicates: gold is deduplicated on (exchange, symbol, trade_id), so an identical repeat (a
    replay) is kept once and never counted twice; a repeat with different content raises
    :class:`ConflictingTradeError` rather than picking one.
    """
    groups: dict[BarKey, list[BarTrade]] = {}
    for trade in _deduplicated(trades):
        key = BarKey(str(trade.exchange), trade.symbol, window_start(trade.timestamp, timeframe))
        groups.setdefault(key, []).append(trade)
    return [_bar_of(key, timeframe, groups[key]) for key in sorted(groups)]


def _merged(key: BarKey, timeframe: Timeframe, bars: Sequence[OhlcvBar]) -> OhlcvBar:
    first = min(bars, key=lambda bar: (bar.first_trade_time, bar.first_trade_id))
    last = max(bars, key=lambda bar: (bar.last_trade_time, bar.last_trade_id))
    return OhlcvBar(
        exchange=key.exchange,
        symbol=key.symbol,
        timeframe=timeframe,
        window_start=key.window_start,
        window_end=key.window_start + timeframe.micros,
        open=first.open,
        high=max(bar.high for bar in bars),
        low=min(bar.low for bar in bars),
        close=last.close,
        volume=check_fits(exact_sum(bar.volume for bar in bars)),
        notional=check_fits(exact_sum(bar.notional for bar in bars)),
        trade_count=sum(bar.trade_count for bar in bars),
        first_trade_id=first.first_trade_id,
        first_trade_time=first.first_trade_time,
        last_trade_id=last.last_trade_id,
        last_trade_time=last.last_trade_time,
    )


def roll_up(bars: Iterable[OhlcvBar], timeframe: Timeframe) -> list[OhlcvBar]:
    """Coarser bars from finer ones, exactly equal to computing them from the trades.

    All input bars must share one timeframe that tiles ``timeframe`` (see :func:`check_roll_up`)
    and no key may repeat; otherwise ``ValueError``. Output is sorted like
    :func:`bars_from_trades`.
    """
    groups: dict[BarKey, list[OhlcvBar]] = {}
    seen: set[BarKey] = set()
    finer: Timeframe | None = None
    for bar in bars:
        if finer is None:
            finer = bar.timeframe
            check_roll_up(finer, timeframe)
        elif bar.timeframe != finer:
            raise ValueError(f"cannot roll up a mix of {finer} and {bar.timeframe} bars")
        if bar.key in seen:
            raise ValueError(f"{finer} bar {bar.key} appears twice")
        seen.add(bar.key)
        coarse = BarKey(bar.key.exchange, bar.symbol, window_start(bar.window_start, timeframe))
        groups.setdefault(coarse, []).append(bar)
    return [_merged(key, timeframe, groups[key]) for key in sorted(groups)]


_DECIMAL_FIELDS = ("open", "high", "low", "close", "volume", "notional")

BAR_VIOLATION_CODES = (
    "empty_window",
    "misaligned_window",
    "decimal_out_of_range",
    "non_positive_price",
    "low_above_high",
    "low_above_open",
    "low_above_close",
    "high_below_open",
    "high_below_close",
    "non_positive_volume",
    "notional_outside_range",
    "vwap_outside_range",
    "non_positive_trade_count",
    "first_after_last",
    "trade_outside_window",
    "single_trade_mismatch",
)
"""Every code :func:`bar_violations` can return, in the order it checks them."""


def _fits(value: Decimal) -> bool:
    try:
        check_fits(value)
    except DomainError:
        return False
    return True


def bar_violations(bar: OhlcvBar) -> list[str]:
    """The invariants ``bar`` breaks, as stable machine-readable codes in a fixed order.

    Never raises for a bar of finite decimals: a broken bar is reported, not thrown. Besides the
    VWAP bounds, the notional is checked exactly against ``low * volume`` and ``high * volume``,
    because rounding VWAP to 18 places can hide a notional a hair outside the range.
    """
    codes: list[str] = []
    duration = bar.timeframe.micros
    if bar.window_end <= bar.window_start:
        codes.append("empty_window")
    if bar.window_start % duration or bar.window_end - bar.window_start != duration:
        codes.append("misaligned_window")
    fits = all(_fits(getattr(bar, name)) for name in _DECIMAL_FIELDS)
    if not fits:
        codes.append("decimal_out_of_range")
    if bar.low <= 0:
        codes.append("non_positive_price")
    if bar.low > bar.high:
        codes.append("low_above_high")
    if bar.low > bar.open:
        codes.append("low_above_open")
    if bar.low > bar.close:
        codes.append("low_above_close")
    if bar.high < bar.open:
        codes.append("high_below_open")
    if bar.high < bar.close:
        codes.append("high_below_close")
    if bar.volume <= 0:
        codes.append("non_positive_volume")
    elif fits:  # out-of-range values make the exact checks meaningless (and could be huge)
        low_notional = EXACT_ARITHMETIC.multiply(bar.low, bar.volume)
        high_notional = EXACT_ARITHMETIC.multiply(bar.high, bar.volume)
        if not low_notional <= bar.notional <= high_notional:
            codes.append("notional_outside_range")
        if not bar.low <= _vwap_unchecked(bar.notional, bar.volume) <= bar.high:
            codes.append("vwap_outside_range")
    if bar.trade_count <= 0:
        codes.append("non_positive_trade_count")
    first = (bar.first_trade_time, bar.first_trade_id)
    last = (bar.last_trade_time, bar.last_trade_id)
    if first > last:
        codes.append("first_after_last")
    if not all(bar.window_start <= t < bar.window_end for t in (first[0], last[0])):
        codes.append("trade_outside_window")
    if bar.trade_count == 1 and (first != last or not bar.open == bar.high == bar.low == bar.close):
        codes.append("single_trade_mismatch")
    return codes


@dataclass(frozen=True, slots=True, order=True)
class RollUpViolation:
    """A coarser bar that is not the roll-up of its finer bars: key, code, and what differs.

    Codes: ``missing_bar``, ``extra_bar``, ``duplicate_bar``, ``wrong_timeframe`` and
    ``<field>_mismatch`` (e.g. ``volume_mismatch``).
    """

    key: BarKey
    code: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.key} {self.code}" + (f" ({self.detail})" if self.detail else "")


# Every field but the key and the timeframe; decimals compare by value, so 1.5 equals 1.50.
_COMPARED_FIELDS = tuple(
    field.name
    for field in dataclasses.fields(OhlcvBar)
    if field.name not in ("exchange", "symbol", "window_start", "timeframe")
)


def roll_up_violations(
    finer: Iterable[OhlcvBar], coarser: Iterable[OhlcvBar], timeframe: Timeframe
) -> list[RollUpViolation]:
    """Where ``coarser`` (bars of ``timeframe``) differs from the roll-up of ``finer``, sorted.

    Both inputs must cover the same whole coarser windows (the caller selects the range; a
    retention or lookback boundary inside a window shows up as mismatches). Malformed ``finer``
    input raises ``ValueError`` as :func:`roll_up` does.
    """
    expected = {bar.key: bar for bar in roll_up(finer, timeframe)}
    found: dict[BarKey, OhlcvBar] = {}
    violations: list[RollUpViolation] = []
    for bar in coarser:
        key = bar.key
        if bar.timeframe != timeframe:
            violations.append(RollUpViolation(key, "wrong_timeframe", f"{bar.timeframe}"))
        elif key in found:
            violations.append(RollUpViolation(key, "duplicate_bar"))
        else:
            found[key] = bar
    for key, bar in found.items():
        want = expected.get(key)
        if want is None:
            violations.append(RollUpViolation(key, "extra_bar"))
            continue
        for name in _COMPARED_FIELDS:
            have, should = getattr(bar, name), getattr(want, name)
            if have != should:
                detail = f"expected {should}, found {have}"
                violations.append(RollUpViolation(key, f"{name}_mismatch", detail))
    violations += [RollUpViolation(key, "missing_bar") for key in expected if key not in found]
    return sorted(violations)
