"""``k2 ohlcv check``: the stored bars against the invariants ``k2.domain.ohlcv`` defines.

Reads each bar table over a range of whole UTC days through pyiceberg (the API's read path, not
Spark, so the check does not share the job's engine) and reports every bar that breaks an
invariant, every stored VWAP that is not ``notional / volume`` at 18 places, and every coarser
bar that is not the exact roll-up of the finer bars in its window (5m of 1m, 30m of 5m, 1h of
30m, 1d of 1h, as the job builds them). A roll-up is only checked where the finer table still
keeps its bars (its retention), so an old range does not report the retention as a fault.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

from k2.domain.ohlcv import (
    DAY_MICROS,
    DEFAULT_RETENTION_DAYS,
    ROLLED_UP_FROM,
    BarKey,
    OhlcvBar,
    RollUpViolation,
    Timeframe,
    bar_violations,
    roll_up_violations,
    window_start,
)
from k2.lake.catalog import glue_catalog
from k2.lake.tables import ohlcv_table
from k2.query.lake_reader import read_table
from k2.settings import K2Settings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BarViolation:
    timeframe: Timeframe
    key: BarKey
    code: str

    def __str__(self) -> str:
        return f"{self.timeframe} {self.key} {self.code}"


@dataclass
class OhlcvCheckReport:
    start_us: int
    end_us: int
    bars: dict[Timeframe, int] = field(default_factory=dict)
    violations: list[BarViolation] = field(default_factory=list)
    roll_up: list[tuple[Timeframe, RollUpViolation]] = field(default_factory=list)
    roll_ups_skipped: list[Timeframe] = field(default_factory=list)  # finer bars past retention

    @property
    def ok(self) -> bool:
        return not self.violations and not self.roll_up


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def whole_days(start: datetime, end: datetime) -> tuple[int, int]:
    """[start, end) widened to UTC day boundaries, in µs, so every window in it is whole."""
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("times need a zone, e.g. 2026-11-26T00:00:00+00:00")
    if end <= start:
        raise ValueError(f"empty range: {start.isoformat()} .. {end.isoformat()}")
    first = window_start(_micros(start), Timeframe.ONE_DAY)
    last = window_start(_micros(end) - 1, Timeframe.ONE_DAY) + DAY_MICROS
    return first, last


def _bar(row: dict[str, Any], timeframe: Timeframe) -> OhlcvBar:
    return OhlcvBar(
        exchange=row["exchange"],
        symbol=row["symbol"],
        timeframe=timeframe,
        window_start=_micros(row["window_start"]),
        window_end=_micros(row["window_end"]),
        open=row["open"],
        high=row["high"],
        low=row["low"],
        close=row["close"],
        volume=row["volume"],
        notional=row["notional"],
        trade_count=row["trade_count"],
        first_trade_id=row["first_trade_id"],
        first_trade_time=_micros(row["first_trade_time"]),
        last_trade_id=row["last_trade_id"],
        last_trade_time=_micros(row["last_trade_time"]),
    )


def read_bars(
    catalog: Catalog, database: str, timeframe: Timeframe, start_us: int, end_us: int
) -> list[tuple[OhlcvBar, Any]]:
    """The stored bars with window_start in [start, end), each with its stored VWAP."""
    # Timestamp literals are µs since the epoch. (The pydantic mypy plugin misreads the
    # expressions' own __init__.)
    in_range = And(
        GreaterThanOrEqual(term="window_start", literal=start_us),  # type: ignore[call-arg]
        LessThan(term="window_start", literal=end_us),  # type: ignore[call-arg]
    )
    identifier = ohlcv_table(timeframe).identifier(database)
    rows = read_table(catalog, identifier, row_filter=in_range).to_pylist()
    return [(_bar(row, timeframe), row["vwap"]) for row in rows]


def _violations(timeframe: Timeframe, bars: Iterable[tuple[OhlcvBar, Any]]) -> list[BarViolation]:
    found = []
    for bar, stored_vwap in bars:
        codes = bar_violations(bar)
        if not codes and stored_vwap != bar.vwap:
            codes = ["stored_vwap_mismatch"]
        found += [BarViolation(timeframe, bar.key, code) for code in codes]
    return found


def check_ohlcv(
    settings: K2Settings, start: datetime, end: datetime, now: datetime | None = None
) -> OhlcvCheckReport:
    """Every invariant over the bars of [start, end) widened to whole days."""
    start_us, end_us = whole_days(start, end)
    today = _micros(now or datetime.now(UTC))
    catalog = glue_catalog(settings)
    report = OhlcvCheckReport(start_us, end_us)
    bars = {
        timeframe: read_bars(catalog, settings.glue_database, timeframe, start_us, end_us)
        for timeframe in Timeframe
    }
    for timeframe, stored in bars.items():
        report.bars[timeframe] = len(stored)
        report.violations += _violations(timeframe, stored)
    for coarser, finer in ROLLED_UP_FROM.items():
        kept_since = today - DEFAULT_RETENTION_DAYS[finer] * DAY_MICROS
        if start_us < kept_since:
            report.roll_ups_skipped.append(coarser)
            continue
        finer_bars = [bar for bar, _ in bars[finer]]
        coarser_bars = [bar for bar, _ in bars[coarser]]
        report.roll_up += [
            (coarser, violation)
            for violation in roll_up_violations(finer_bars, coarser_bars, coarser)
        ]
    return report
