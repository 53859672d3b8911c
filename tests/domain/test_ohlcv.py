"""OHLCV bar definitions (k2.domain.ohlcv).

Expected values are computed here by other means than the module uses: datetimes for window
boundaries, integer units of 1e-8 for sums and products, ``Fraction`` for VWAP rounding, sorting
and plain loops for open and close.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from itertools import combinations, permutations
from math import floor
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k2.domain.errors import DecimalOutOfRangeError, InvalidIdentifierError, InvalidTimestampError
from k2.domain.markets import Exchange
from k2.domain.ohlcv import (
    BAR_VIOLATION_CODES,
    DEFAULT_RETENTION_DAYS,
    BarKey,
    BarTrade,
    ConflictingTradeError,
    OhlcvBar,
    Timeframe,
    bar_violations,
    bars_from_trades,
    check_roll_up,
    roll_up,
    roll_up_violations,
    trade_notional,
    vwap,
    window_end,
    window_start,
)
from k2.domain.symbols import binance_instrument
from k2.domain.trade import Side, TradeV2

pytestmark = pytest.mark.unit

# Property tests do a few hundred bar computations each; a wall-clock deadline would only make
# them flaky on a busy machine.
PROPERTY = settings(deadline=None, max_examples=50)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(instant: datetime) -> int:
    return (instant - _EPOCH) // timedelta(microseconds=1)


def at(text: str) -> int:
    """Micros of an ISO UTC instant, via datetime (not via the module under test)."""
    return micros(datetime.fromisoformat(text).replace(tzinfo=UTC))


MINUTE = 60_000_000
BASE = at("2024-01-01T00:00:00")  # a Monday at 00:00 UTC


def d(text: str) -> Decimal:
    return Decimal(text)


def trade(
    trade_id: int,
    timestamp: int,
    price: str,
    quantity: str = "1",
    *,
    exchange: str = "binance",
    symbol: str = "BTCUSDT",
) -> BarTrade:
    return BarTrade(exchange, symbol, trade_id, timestamp, Decimal(price), Decimal(quantity))


# --- strategies --------------------------------------------------------------------------------

# Minutes after BASE chosen to sit on and around 5m, 30m, 1h and 1d boundaries.
_MINUTES = [0, 1, 4, 5, 29, 30, 59, 60, 61, 119, 1439, 1440, 1441, 2 * 1440 + 7]
_OFFSETS = st.one_of(st.sampled_from([0, 1, MINUTE // 2, MINUTE - 1]), st.integers(0, MINUTE - 1))


@st.composite
def decimals(draw: st.DrawFn, max_integer: int) -> Decimal:
    """Positive, up to 8 fractional digits, like the exchanges' prices and quantities."""
    places = draw(st.integers(0, 8))
    units = draw(st.integers(1, max_integer * 10**places))
    return Decimal(f"{units}E-{places}")


@st.composite
def bar_trades(draw: st.DrawFn) -> BarTrade:
    return BarTrade(
        exchange=draw(st.sampled_from([Exchange.BINANCE, "binance", Exchange.KRAKEN])),
        symbol=draw(st.sampled_from(["BTCUSDT", "ETHUSDT"])),
        trade_id=draw(st.integers(1, 10**9)),
        timestamp=BASE + draw(st.sampled_from(_MINUTES)) * MINUTE + draw(_OFFSETS),
        price=draw(decimals(100_000)),
        quantity=draw(decimals(1_000)),
    )


# Gold's content: unique on (exchange, symbol, trade_id).
trade_sets = st.lists(bar_trades(), max_size=30, unique_by=lambda t: t.key)


# --- an independent reference ------------------------------------------------------------------


def units(value: Decimal, places: int) -> int:
    scaled = value.scaleb(places)
    assert scaled == scaled.to_integral_value()
    return int(scaled)


def reference_bars(trades: list[BarTrade], timeframe: Timeframe) -> list[OhlcvBar]:
    """Bars by sorting and plain loops, sums in integer units of 1e-8 and 1e-16."""
    duration = timeframe.micros
    groups: dict[tuple[str, str, int], list[BarTrade]] = defaultdict(list)
    for t in trades:
        groups[(str(t.exchange), t.symbol, t.timestamp // duration * duration)].append(t)
    bars = []
    for (exchange, symbol, start), members in sorted(groups.items()):
        ordered = sorted(members, key=lambda t: (t.timestamp, t.trade_id))
        prices = sorted(t.price for t in members)
        volume = sum(units(t.quantity, 8) for t in members)
        notional = sum(units(t.price, 8) * units(t.quantity, 8) for t in members)
        bars.append(
            OhlcvBar(
                exchange=exchange,
                symbol=symbol,
                timeframe=timeframe,
                window_start=start,
                window_end=start + duration,
                open=ordered[0].price,
                high=prices[-1],
                low=prices[0],
                close=ordered[-1].price,
                volume=Decimal(f"{volume}E-8"),
                notional=Decimal(f"{notional}E-16"),
                trade_count=len(members),
                first_trade_id=ordered[0].trade_id,
                first_trade_time=ordered[0].timestamp,
                last_trade_id=ordered[-1].trade_id,
                last_trade_time=ordered[-1].timestamp,
            )
        )
    return bars


def half_up(value: Fraction, places: int = 18) -> Decimal:
    """Round half away from zero, by rational arithmetic."""
    scaled = abs(value) * 10**places
    magnitude = floor(scaled + Fraction(1, 2))
    return Decimal(f"{'-' if value < 0 else ''}{magnitude}E-{places}")


# --- timeframes and windows --------------------------------------------------------------------


def test_timeframes_are_the_five_table_suffixes_finest_first() -> None:
    assert [tf.value for tf in Timeframe] == ["1m", "5m", "30m", "1h", "1d"]
    expected = [timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30)]
    expected += [timedelta(hours=1), timedelta(days=1)]
    assert [tf.micros for tf in Timeframe] == [e // timedelta(microseconds=1) for e in expected]
    assert Timeframe("1h") is Timeframe.ONE_HOUR


def test_default_retention_days() -> None:
    assert {tf.value: days for tf, days in DEFAULT_RETENTION_DAYS.items()} == {
        "1m": 90,
        "5m": 180,
        "30m": 365,
        "1h": 1095,
        "1d": 1825,
    }


def test_a_day_window_starts_at_midnight_utc() -> None:
    timestamp = at("2024-03-15T13:45:12.345678")
    assert window_start(timestamp, Timeframe.ONE_DAY) == at("2024-03-15T00:00:00")
    assert window_end(timestamp, Timeframe.ONE_DAY) == at("2024-03-16T00:00:00")


@pytest.mark.parametrize(
    ("timeframe", "instant", "start"),
    [
        (Timeframe.ONE_HOUR, "2024-03-15T10:59:59.999999", "2024-03-15T10:00:00"),
        (Timeframe.ONE_HOUR, "2024-03-15T11:00:00", "2024-03-15T11:00:00"),
        (Timeframe.THIRTY_MINUTES, "2024-03-15T10:29:59.999999", "2024-03-15T10:00:00"),
        (Timeframe.THIRTY_MINUTES, "2024-03-15T10:30:00", "2024-03-15T10:30:00"),
        (Timeframe.FIVE_MINUTES, "2024-03-15T10:04:59.999999", "2024-03-15T10:00:00"),
        (Timeframe.FIVE_MINUTES, "2024-03-15T10:05:00", "2024-03-15T10:05:00"),
        (Timeframe.ONE_MINUTE, "2024-03-15T10:00:59.999999", "2024-03-15T10:00:00"),
        (Timeframe.ONE_MINUTE, "2024-03-15T10:01:00", "2024-03-15T10:01:00"),
        (Timeframe.ONE_DAY, "2024-03-15T23:59:59.999999", "2024-03-15T00:00:00"),
        (Timeframe.ONE_DAY, "2024-03-16T00:00:00", "2024-03-16T00:00:00"),
    ],
)
def test_window_boundaries(timeframe: Timeframe, instant: str, start: str) -> None:
    """The last microsecond belongs to the window; the boundary itself opens the next."""
    assert window_start(at(instant), timeframe) == at(start)
    assert window_end(at(instant), timeframe) == at(start) + timeframe.micros


def test_windows_before_the_epoch_floor_too() -> None:
    assert window_start(-1, Timeframe.ONE_MINUTE) == -MINUTE
    assert window_end(-1, Timeframe.ONE_MINUTE) == 0


@given(st.integers(-(10**18), 10**18), st.sampled_from(Timeframe))
def test_a_timestamp_lies_in_its_aligned_window(timestamp: int, timeframe: Timeframe) -> None:
    start, end = window_start(timestamp, timeframe), window_end(timestamp, timeframe)
    assert start <= timestamp < end
    assert start % timeframe.micros == 0
    assert end - start == timeframe.micros


# --- bars from trades --------------------------------------------------------------------------


def test_a_window_with_one_trade() -> None:
    t = trade(42, BASE + 90 * MINUTE + 5, "43000.5", "0.25")
    [bar] = bars_from_trades([t], Timeframe.ONE_HOUR)
    assert bar == OhlcvBar(
        exchange="binance",
        symbol="BTCUSDT",
        timeframe=Timeframe.ONE_HOUR,
        window_start=BASE + 60 * MINUTE,
        window_end=BASE + 120 * MINUTE,
        open=d("43000.5"),
        high=d("43000.5"),
        low=d("43000.5"),
        close=d("43000.5"),
        volume=d("0.25"),
        notional=d("10750.125"),
        trade_count=1,
        first_trade_id=42,
        first_trade_time=t.timestamp,
        last_trade_id=42,
        last_trade_time=t.timestamp,
    )
    assert bar.vwap == d("43000.5")
    assert bar_violations(bar) == []


def test_open_and_close_follow_timestamp_then_trade_id_whatever_the_input_order() -> None:
    tied = [trade(7, BASE + 5, "70"), trade(3, BASE + 5, "30"), trade(5, BASE + 5, "50")]
    for order in permutations(tied):
        [bar] = bars_from_trades(order, Timeframe.ONE_MINUTE)
        assert (bar.open, bar.close) == (d("30"), d("70"))
        assert (bar.first_trade_id, bar.last_trade_id) == (3, 7)


def test_timestamp_outranks_trade_id() -> None:
    trades = [
        trade(1, BASE + 9, "90"),  # the smallest id, but the latest trade
        trade(7, BASE + 5, "70"),
        trade(100, BASE + 1, "11"),  # the largest id, but the earliest trade
    ]
    [bar] = bars_from_trades(trades, Timeframe.ONE_MINUTE)
    assert (bar.open, bar.close, bar.high, bar.low) == (d("11"), d("90"), d("90"), d("11"))
    assert (bar.first_trade_id, bar.first_trade_time) == (100, BASE + 1)
    assert (bar.last_trade_id, bar.last_trade_time) == (1, BASE + 9)


def test_bars_are_sorted_by_exchange_symbol_and_window_and_carry_plain_strings() -> None:
    trades = [
        trade(1, BASE + 2 * MINUTE, "1", exchange="kraken", symbol="BTCUSD"),
        BarTrade(Exchange.BINANCE, "ETHUSDT", 2, BASE + MINUTE, d("2"), d("1")),
        trade(3, BASE + MINUTE, "3", symbol="BTCUSDT"),
        trade(4, BASE, "4", symbol="BTCUSDT"),
    ]
    bars = bars_from_trades(trades, Timeframe.ONE_MINUTE)
    assert [(b.exchange, b.symbol, b.window_start) for b in bars] == [
        ("binance", "BTCUSDT", BASE),
        ("binance", "BTCUSDT", BASE + MINUTE),
        ("binance", "ETHUSDT", BASE + MINUTE),
        ("kraken", "BTCUSD", BASE + 2 * MINUTE),
    ]
    assert all(type(b.exchange) is str for b in bars)
    assert bars_from_trades([], Timeframe.ONE_MINUTE) == []


@PROPERTY
@given(trade_sets)
def test_bars_equal_a_reference_computation(trades: list[BarTrade]) -> None:
    for timeframe in Timeframe:
        assert bars_from_trades(trades, timeframe) == reference_bars(trades, timeframe)


@PROPERTY
@given(trade_sets.flatmap(lambda ts: st.tuples(st.just(ts), st.permutations(ts))))
def test_input_order_does_not_matter(pair: tuple[list[BarTrade], list[BarTrade]]) -> None:
    trades, shuffled = pair
    for timeframe in Timeframe:
        assert bars_from_trades(shuffled, timeframe) == bars_from_trades(trades, timeframe)


@PROPERTY
@given(trade_sets, st.data())
def test_recomputing_touched_windows_batch_by_batch_equals_one_batch(
    trades: list[BarTrade], data: st.DataObject
) -> None:
    """The incremental job: trades arrive in batches, some replayed (an overlapping lookback);
    gold keeps one copy of each; every window a batch touches is recomputed from all of gold
    and replaces the stored bar. The seed's MERGE added volumes instead and double counted."""
    cuts = sorted(data.draw(st.lists(st.integers(0, len(trades)), max_size=5), label="cuts"))
    arrivals: list[list[BarTrade]] = []
    seen: list[BarTrade] = []
    for lo, hi in zip([0, *cuts], [*cuts, len(trades)], strict=True):
        replayed = data.draw(st.lists(st.sampled_from(seen), max_size=4)) if seen else []
        arrivals.append(trades[lo:hi] + replayed)
        seen += trades[lo:hi]

    for timeframe in Timeframe:
        gold: dict[tuple[str, str, int], BarTrade] = {}
        stored: dict[BarKey, OhlcvBar] = {}
        for batch in arrivals:
            gold.update((t.key, t) for t in batch)  # MERGE on the trade key
            touched = {
                (str(t.exchange), t.symbol, window_start(t.timestamp, timeframe)) for t in batch
            }
            affected = [
                t
                for t in gold.values()
                if (str(t.exchange), t.symbol, window_start(t.timestamp, timeframe)) in touched
            ]
            stored.update((bar.key, bar) for bar in bars_from_trades(affected, timeframe))
        final = [stored[key] for key in sorted(stored)]
        assert final == bars_from_trades(trades, timeframe)


def test_a_re_read_lookback_is_not_counted_twice() -> None:
    trades = [trade(i, BASE + i, "10", "1.5") for i in range(1, 6)]
    first_run = bars_from_trades(trades[:3], Timeframe.ONE_MINUTE)
    second_run = bars_from_trades(trades[:3] + trades[1:], Timeframe.ONE_MINUTE)  # overlap 2..3
    assert first_run[0].volume == d("4.5")
    assert second_run[0].volume == d("7.5")
    assert second_run[0].trade_count == 5
    assert second_run[0].open == d("10")


@PROPERTY
@given(trade_sets)
def test_every_computed_bar_keeps_the_invariants_and_vwap_rounds_half_up(
    trades: list[BarTrade],
) -> None:
    for timeframe in Timeframe:
        for bar in bars_from_trades(trades, timeframe):
            assert bar_violations(bar) == []
            exact = Fraction(bar.notional) / Fraction(bar.volume)
            assert bar.vwap == half_up(exact)
            assert bar.vwap.as_tuple().exponent == -18


# --- roll-up -----------------------------------------------------------------------------------


@PROPERTY
@given(trade_sets)
def test_rolling_up_equals_computing_from_trades(trades: list[BarTrade]) -> None:
    direct = {timeframe: bars_from_trades(trades, timeframe) for timeframe in Timeframe}
    for finer, coarser in combinations(Timeframe, 2):
        assert roll_up(direct[finer], coarser) == direct[coarser]
        assert roll_up(reversed(direct[finer]), coarser) == direct[coarser]
        assert roll_up_violations(direct[finer], direct[coarser], coarser) == []


def test_every_project_timeframe_tiles_every_coarser_one() -> None:
    for finer, coarser in combinations(Timeframe, 2):
        check_roll_up(finer, coarser)


def _two_hours() -> list[BarTrade]:
    return [
        trade(1, BASE + 1, "100", "2"),
        trade(2, BASE + 7 * MINUTE, "105", "1"),
        trade(3, BASE + 59 * MINUTE, "95", "0.5"),
        trade(4, BASE + 61 * MINUTE, "101", "3"),
    ]


def test_roll_up_refuses_a_target_that_is_not_coarser() -> None:
    hourly = bars_from_trades(_two_hours(), Timeframe.ONE_HOUR)
    for target in (Timeframe.ONE_HOUR, Timeframe.FIVE_MINUTES):
        with pytest.raises(ValueError, match="not coarser"):
            roll_up(hourly, target)
    assert roll_up([], Timeframe.ONE_DAY) == []


def test_roll_up_refuses_mixed_or_repeated_finer_bars() -> None:
    minutes = bars_from_trades(_two_hours(), Timeframe.ONE_MINUTE)
    fives = bars_from_trades(_two_hours(), Timeframe.FIVE_MINUTES)
    with pytest.raises(ValueError, match="mix"):
        roll_up(minutes + fives, Timeframe.ONE_DAY)
    with pytest.raises(ValueError, match="twice"):
        roll_up([*minutes, minutes[0]], Timeframe.ONE_DAY)


def test_roll_up_violations_name_the_bar_and_what_differs() -> None:
    minutes = bars_from_trades(_two_hours(), Timeframe.ONE_MINUTE)
    hours = bars_from_trades(_two_hours(), Timeframe.ONE_HOUR)
    assert len(hours) == 2
    first, second = hours

    wrong = dataclasses.replace(first, volume=first.volume + 1)
    [violation] = roll_up_violations(minutes, [wrong, second], Timeframe.ONE_HOUR)
    assert (violation.key, violation.code) == (first.key, "volume_mismatch")
    assert str(violation) == (
        "binance BTCUSDT 2024-01-01T00:00:00.000000Z volume_mismatch (expected 3.5, found 4.5)"
    )

    def codes(coarser: list[OhlcvBar]) -> list[tuple[BarKey, str]]:
        found = roll_up_violations(minutes, coarser, Timeframe.ONE_HOUR)
        return [(v.key, v.code) for v in found]

    extra = dataclasses.replace(second, window_start=second.window_start + 24 * 60 * MINUTE)
    assert codes([first]) == [(second.key, "missing_bar")]
    assert codes([first, second, extra]) == [(extra.key, "extra_bar")]
    assert codes([first, second, second]) == [(second.key, "duplicate_bar")]
    wrong_timeframe = dataclasses.replace(second, timeframe=Timeframe.ONE_DAY)
    assert codes([first, second, wrong_timeframe]) == [(second.key, "wrong_timeframe")]
    swapped = dataclasses.replace(first, open=second.open, close=first.open)
    assert codes([swapped, second]) == [(first.key, "close_mismatch"), (first.key, "open_mismatch")]


def test_roll_up_violations_compare_decimals_by_value_not_scale() -> None:
    """A table read gives every decimal at scale 18; 3.5 and 3.500000000000000000 are equal."""
    minutes = bars_from_trades(_two_hours(), Timeframe.ONE_MINUTE)
    read_back = [
        dataclasses.replace(
            bar,
            **{
                name: getattr(bar, name).quantize(Decimal("1E-18"))
                for name in ("open", "high", "low", "close", "volume", "notional")
            },
        )
        for bar in bars_from_trades(_two_hours(), Timeframe.ONE_HOUR)
    ]
    assert roll_up_violations(minutes, read_back, Timeframe.ONE_HOUR) == []


# --- invariants --------------------------------------------------------------------------------

T = BASE + 10 * MINUTE
GOOD = OhlcvBar(
    exchange="binance",
    symbol="BTCUSDT",
    timeframe=Timeframe.ONE_MINUTE,
    window_start=T,
    window_end=T + MINUTE,
    open=d("10"),
    high=d("12"),
    low=d("9"),
    close=d("11"),
    volume=d("2"),
    notional=d("21"),
    trade_count=2,
    first_trade_id=1,
    first_trade_time=T + 1,
    last_trade_id=2,
    last_trade_time=T + 2,
)

BAD_BARS: list[tuple[str, dict[str, Any]]] = [
    ("empty_window", {"window_end": T}),
    ("misaligned_window", {"window_start": T + 1}),
    ("misaligned_window", {"window_end": T + 2 * MINUTE}),
    ("decimal_out_of_range", {"notional": d("21.0000000000000000001")}),
    ("non_positive_price", {"low": d("0")}),
    ("low_above_high", {"low": d("12.5")}),
    ("low_above_open", {"open": d("8.5")}),
    ("low_above_close", {"close": d("8.5")}),
    ("high_below_open", {"open": d("13")}),
    ("high_below_close", {"close": d("13")}),
    ("non_positive_volume", {"volume": d("0")}),
    ("non_positive_volume", {"volume": d("-2")}),
    ("notional_outside_range", {"notional": d("17")}),
    ("vwap_outside_range", {"notional": d("30")}),
    ("non_positive_trade_count", {"trade_count": 0}),
    ("first_after_last", {"first_trade_time": T + 3}),
    ("first_after_last", {"first_trade_id": 3, "first_trade_time": T + 2}),
    ("trade_outside_window", {"first_trade_time": T - 1}),
    ("trade_outside_window", {"last_trade_time": T + MINUTE}),  # the end is exclusive
    ("single_trade_mismatch", {"trade_count": 1}),
]


def test_the_hand_made_good_bar_is_good() -> None:
    assert bar_violations(GOOD) == []


@pytest.mark.parametrize(("code", "changes"), BAD_BARS)
def test_each_violation_is_reported(code: str, changes: dict[str, Any]) -> None:
    violations = bar_violations(dataclasses.replace(GOOD, **changes))
    assert code in violations
    assert set(violations) <= set(BAR_VIOLATION_CODES)


def test_every_violation_code_has_a_bad_bar() -> None:
    assert {code for code, _ in BAD_BARS} == set(BAR_VIOLATION_CODES)
    assert len(set(BAR_VIOLATION_CODES)) == len(BAR_VIOLATION_CODES)


def test_a_notional_a_hair_below_the_range_is_caught_although_vwap_rounds_into_it() -> None:
    # 17.999999999999999999 / 2 = 8.9999999999999999995, which rounds half up to exactly 9.
    bar = dataclasses.replace(GOOD, notional=d("17.999999999999999999"))
    assert bar.vwap == d("9")
    assert bar_violations(bar) == ["notional_outside_range"]


# --- exact arithmetic --------------------------------------------------------------------------


def test_notional_is_exact() -> None:
    assert trade_notional(d("0.1"), d("0.2")) == d("0.02")
    trades = [trade(i, BASE + i, "0.1", "0.2") for i in range(10)]
    [bar] = bars_from_trades(trades, Timeframe.ONE_MINUTE)
    assert (bar.notional, bar.volume, bar.vwap) == (d("0.2"), d("2"), d("0.1"))
    assert sum(0.1 * 0.2 for _ in range(10)) != 0.2  # what float would have stored


def test_notional_keeps_more_digits_than_the_default_context() -> None:
    # 29 significant digits: Decimal's default 28-digit context would round this product.
    product = trade_notional(d("1234567.12345678"), d("7654321.87654321"))
    assert product == Decimal(f"{123456712345678 * 765432187654321}E-16")


@pytest.mark.parametrize(
    ("price", "quantity"),
    [
        ("0.123456789", "0.1234567891"),  # 19 fractional digits
        ("99999999999", "99999999999"),  # 22 integer digits
    ],
)
def test_a_notional_decimal_38_18_cannot_hold_raises(price: str, quantity: str) -> None:
    with pytest.raises(DecimalOutOfRangeError):
        trade_notional(d(price), d(quantity))


def test_a_sum_decimal_38_18_cannot_hold_raises() -> None:
    # Each notional is 9e19 (20 integer digits, fits); their sum needs 21.
    trades = [trade(i, BASE + i, "10000000000", "9000000000") for i in (1, 2)]
    with pytest.raises(DecimalOutOfRangeError):
        bars_from_trades(trades, Timeframe.ONE_MINUTE)


@pytest.mark.parametrize(
    ("notional", "volume", "expected"),
    [
        ("1.000000000000000001", "2", "0.500000000000000001"),  # half-even would give ...000
        ("0.000000000000000005", "2", "0.000000000000000003"),  # half-even would give ...002
        ("0.000000000000000003", "2", "0.000000000000000002"),
        ("-0.000000000000000005", "2", "-0.000000000000000003"),  # ties away from zero
        ("1", "3", "0.333333333333333333"),
        ("2", "3", "0.666666666666666667"),
        ("1", "2", "0.500000000000000000"),
    ],
)
def test_vwap_rounds_half_up_at_the_18th_place(notional: str, volume: str, expected: str) -> None:
    result = vwap(d(notional), d(volume))
    assert f"{result:f}" == expected
    assert result.as_tuple().exponent == -18


@given(
    st.decimals(min_value=0, max_value=10**19, places=18),
    st.decimals(min_value=d("1E-18"), max_value=10**19, places=18),
)
def test_vwap_is_the_exact_quotient_rounded_once(notional: Decimal, volume: Decimal) -> None:
    try:
        result = vwap(notional, volume)
    except DecimalOutOfRangeError:
        assert half_up(Fraction(notional) / Fraction(volume)) >= 10**20
        return
    assert result == half_up(Fraction(notional) / Fraction(volume))


def test_vwap_of_no_volume_is_refused() -> None:
    with pytest.raises(ValueError, match="positive volume"):
        vwap(d("1"), d("0"))


# --- duplicates and trade validation -----------------------------------------------------------


def test_an_identical_repeat_is_counted_once() -> None:
    a, b = trade(1, BASE + 1, "10", "1"), trade(2, BASE + 2, "11", "2")
    same_as_a = [
        BarTrade(Exchange.BINANCE, "BTCUSDT", 1, BASE + 1, d("10"), d("1")),
        BarTrade("binance", "BTCUSDT", 1, BASE + 1, d("10.000"), d("1.0")),  # same values
    ]
    bars = bars_from_trades([a, b, *same_as_a, a], Timeframe.ONE_MINUTE)
    assert bars == bars_from_trades([a, b], Timeframe.ONE_MINUTE)
    assert (bars[0].trade_count, bars[0].volume) == (2, d("3"))


def test_a_conflicting_repeat_raises() -> None:
    a = trade(1, BASE + 1, "10", "1")
    for conflict in (
        trade(1, BASE + 1, "10.5", "1"),
        trade(1, BASE + 1, "10", "2"),
        trade(1, BASE + 2, "10", "1"),
    ):
        with pytest.raises(ConflictingTradeError, match="different content"):
            bars_from_trades([a, conflict], Timeframe.ONE_MINUTE)
    assert issubclass(ConflictingTradeError, ValueError)


def test_the_same_trade_id_on_another_symbol_or_exchange_is_another_trade() -> None:
    trades = [
        trade(1, BASE + 1, "10"),
        trade(1, BASE + 1, "10", symbol="ETHUSDT"),
        trade(1, BASE + 1, "10", exchange="kraken"),
    ]
    assert [b.trade_count for b in bars_from_trades(trades, Timeframe.ONE_MINUTE)] == [1, 1, 1]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"price": 10.0}, TypeError),
        ({"price": d("0")}, ValueError),
        ({"quantity": d("-1")}, ValueError),
        ({"price": d("0.0000000000000000001")}, DecimalOutOfRangeError),
        ({"timestamp": -1}, InvalidTimestampError),
        ({"trade_id": True}, InvalidIdentifierError),
    ],
)
def test_a_bar_trade_holds_only_what_gold_can(
    changes: dict[str, Any], error: type[Exception]
) -> None:
    fields: dict[str, Any] = {
        "exchange": "binance",
        "symbol": "BTCUSDT",
        "trade_id": 1,
        "timestamp": BASE,
        "price": d("10"),
        "quantity": d("1"),
    }
    with pytest.raises(error):
        BarTrade(**(fields | changes))


def test_a_bar_trade_from_a_gold_trade() -> None:
    gold = TradeV2.create(
        binance_instrument("BTCUSDT"),
        trade_id=12345,
        timestamp=BASE + 7,
        price=d("43000.10"),
        quantity=d("0.005"),
        side=Side.BUY,
        ingestion_timestamp=BASE + 9,
    )
    assert BarTrade.from_trade(gold) == BarTrade(
        "binance", "BTCUSDT", 12345, BASE + 7, d("43000.10"), d("0.005")
    )
