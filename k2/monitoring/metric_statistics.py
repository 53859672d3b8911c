"""CloudWatch statistics over raw datapoints: the per-period numbers every graph and alarm reads.

The local CloudWatch keeps every value it receives, so each statistic is computed exactly from
the raw values of the period, as CloudWatch does when it has them (it only approximates
percentiles of values published as pre-aggregated statistic sets, which K2 never sends).

Percentiles use the nearest-rank method: ``pNN`` is the smallest value such that at least NN % of
the period's values are less than or equal to it (rank ``ceil(NN / 100 * n)`` of the sorted
values). That matches CloudWatch's definition ("p95: 95 % of the data in the period is lower than
or equal to this value") and always returns a value that was actually published, never an
interpolation between two.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

BASIC_STATISTICS = ("SampleCount", "Sum", "Average", "Minimum", "Maximum")
"""What ``GetMetricStatistics`` takes as ``Statistics``; percentiles are ``ExtendedStatistics``."""

_PERCENTILE = re.compile(r"[pP](\d{1,2}(?:\.\d{1,10})?|100)")


class UnsupportedStatisticError(ValueError):
    """A statistic name CloudWatch may know (``tm99``, ``IQM``...) that is not computed here."""


@dataclass(frozen=True)
class Sample:
    """One published value: when (epoch seconds), what, and in which unit."""

    timestamp_s: float
    value: float
    unit: str = "None"


def percentile_of(statistic: str) -> float | None:
    """The percentile a ``pNN`` / ``pNN.NN`` statistic asks for, or None if it is not one."""
    match = _PERCENTILE.fullmatch(statistic)
    if match is None:
        return None
    value = float(match.group(1))
    return value if 0 <= value <= 100 else None


def is_supported(statistic: str) -> bool:
    return statistic in BASIC_STATISTICS or percentile_of(statistic) is not None


def nearest_rank(values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of non-empty ``values`` (see module doc)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def statistic_value(values: Sequence[float], statistic: str) -> float | None:
    """``statistic`` over one period's raw values; None when the period has none."""
    if not values:
        return None
    if statistic == "SampleCount":
        return float(len(values))
    if statistic == "Sum":
        return float(math.fsum(values))
    if statistic == "Average":
        return float(math.fsum(values) / len(values))
    if statistic == "Minimum":
        return float(min(values))
    if statistic == "Maximum":
        return float(max(values))
    percent = percentile_of(statistic)
    if percent is None:
        raise UnsupportedStatisticError(f"statistic {statistic!r} is not supported")
    return float(nearest_rank(values, percent))


def bucket_values(
    samples: Sequence[Sample], start_s: float, period_s: int, periods: int
) -> list[list[float]]:
    """The values of each period ``[start + i * period, start + (i + 1) * period)``."""
    buckets: list[list[float]] = [[] for _ in range(periods)]
    for sample in samples:
        index = math.floor((sample.timestamp_s - start_s) / period_s)
        if 0 <= index < periods:
            buckets[index].append(sample.value)
    return buckets


def periods_between(start_s: float, end_s: float, period_s: int) -> int:
    """How many periods, the last possibly partial, cover ``[start, end)``."""
    if period_s <= 0:
        raise ValueError(f"period must be positive: {period_s}")
    return max(0, math.ceil((end_s - start_s) / period_s))


def aligned_start(start_s: float, period_s: int) -> float:
    """Where CloudWatch starts the first period of a query starting at ``start_s``: periods under
    a minute start on a multiple of the period, longer ones on a whole minute."""
    step = period_s if period_s < 60 else 60
    return math.floor(start_s / step) * step
