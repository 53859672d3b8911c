"""VWAP, TWAP, buckets and volume profiles on hand-computed examples."""

from __future__ import annotations

from decimal import Decimal

import pytest

from k2.query.aggregations import (
    PricePoint,
    bucket_start,
    buckets,
    check_interval,
    price_level,
    twap,
    volume_profile,
    vwap,
)
from k2.query.errors import InvalidParameterError, LimitExceededError
from k2.query.params import TimeRange

pytestmark = pytest.mark.unit

D = Decimal


def test_twap_weighs_each_price_by_how_long_it_stood() -> None:
    # Window [0, 100): 10 stands from t=10 to 40 (30), 20 from 40 to 90 (50), 30 from 90 to 100
    # (10). TWAP = (10*30 + 20*50 + 30*10) / (100 - 10) = 1600 / 90 = 17.777...
    trades = [PricePoint(40, 2, D(20), D(5)), PricePoint(10, 1, D(10), D(1))]
    trades.append(PricePoint(90, 3, D(30), D("0.5")))
    assert twap(trades, 100) == D("17.777777777777777778")
    # A plain average would be 20; VWAP is (10 + 100 + 15) / 6.5.
    assert vwap(trades) == D("19.230769230769230769")


def test_twap_gives_ties_to_the_last_trade_by_id_and_refuses_late_trades() -> None:
    tied = [PricePoint(0, 7, D(50), D(1)), PricePoint(0, 6, D(10), D(1))]
    assert twap(tied, 10) == D(50)  # id 7 is the price that stood
    assert twap([], 10) is None and vwap([]) is None
    with pytest.raises(ValueError, match="after"):
        twap([PricePoint(10, 1, D(1), D(1))], 10)


def test_buckets_are_epoch_aligned_with_open_close_by_trade_order() -> None:
    trades = [
        PricePoint(5, 2, D(11), D(1)),
        PricePoint(5, 1, D(10), D(2)),
        PricePoint(9, 3, D(12), D(1)),
        PricePoint(12, 4, D(7), D(3)),
    ]
    result = buckets(trades, 10, TimeRange(3, 15))
    first, second = result
    assert (first.start_us, first.end_us, first.open, first.close) == (0, 10, D(10), D(12))
    assert (first.high, first.low, first.volume, first.trade_count) == (D(12), D(10), D(4), 3)
    assert first.notional == D(43) and first.vwap == D("10.75")
    # TWAP of the first bucket over [5, 10): id 1 weighs 0, id 2 weighs 4, id 3 weighs 1.
    assert first.twap == D("11.2")
    # The second bucket's TWAP window is clipped to the range end, 15.
    assert (second.start_us, second.twap, second.vwap) == (10, D(7), D(7))
    assert bucket_start(-1, 10) == -10
    with pytest.raises(ValueError, match="outside"):
        buckets(trades, 10, TimeRange(6, 15))


def test_vwap_is_exact_beyond_the_default_decimal_context() -> None:
    price = D("12345678901234567890.123456789012345678")
    trades = [PricePoint(1, 1, price, D("0.000000000000000001")), PricePoint(2, 2, price, D(3))]
    assert vwap(trades) == price  # 28-digit arithmetic would have rounded the notional


def test_volume_profile_levels_are_exact_and_bounded() -> None:
    trades = [
        PricePoint(1, 1, D("100.0"), D(1)),
        PricePoint(2, 2, D("100.49"), D(2)),
        PricePoint(3, 3, D("100.5"), D(4)),
        PricePoint(4, 4, D("99.99"), D(8)),
    ]
    profile = volume_profile(trades, D("0.5"))
    assert [(p.price_low, p.price_high, p.volume, p.trade_count) for p in profile] == [
        (D("99.5"), D("100.0"), D(8), 1),
        (D("100.0"), D("100.5"), D(3), 2),
        (D("100.5"), D("101.0"), D(4), 1),
    ]
    assert price_level(D("0.3"), D("0.1")) == 3  # exact, unlike 0.3 / 0.1 in floats
    with pytest.raises(InvalidParameterError):
        volume_profile(trades, D(0))
    with pytest.raises(LimitExceededError):
        volume_profile([PricePoint(i, i, D(i), D(1)) for i in range(1, 10_003)], D(1))


def test_intervals_are_bounded() -> None:
    day = TimeRange(0, 86_400_000_000)
    assert check_interval(60_000_000, day) == 60_000_000
    with pytest.raises(InvalidParameterError):
        check_interval(1_000, day)
    with pytest.raises(LimitExceededError):
        check_interval(1_000_000, TimeRange(0, 30 * 86_400_000_000))
