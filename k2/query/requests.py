"""What the engine is asked and what it answers: frozen dataclasses, no logic beyond shape.

Request values arrive as the API receives them (ISO text or aware datetimes, symbols in any
case); the engine validates and normalises them (:mod:`k2.query.params`) so that every error has
a code. Results carry rows plus the facts an API needs for its envelope: whether more rows
exist, which snapshot was read, how many data files the plan kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from k2.query.aggregations import Bucket, Metric, PriceLevel
from k2.query.limits import DEFAULT_LIMIT
from k2.query.time_travel import CURRENT, TimeTravel

Time = str | datetime


@dataclass(frozen=True)
class TradesQuery:
    start: Time
    end: Time
    symbols: tuple[str, ...] = ()
    exchanges: tuple[str, ...] = ()
    fields: tuple[str, ...] | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    min_quantity: Decimal | None = None
    max_quantity: Decimal | None = None
    limit: int = DEFAULT_LIMIT
    newest_first: bool = True
    travel: TimeTravel = CURRENT


@dataclass(frozen=True)
class QuotesQuery:
    """Quotes by ``ingestion_timestamp`` (the one time every quote has; the partition time)."""

    start: Time
    end: Time
    symbols: tuple[str, ...] = ()
    exchanges: tuple[str, ...] = ()
    fields: tuple[str, ...] | None = None
    limit: int = DEFAULT_LIMIT
    newest_first: bool = True
    travel: TimeTravel = CURRENT


@dataclass(frozen=True)
class BarsQuery:
    """Bars whose ``window_start`` is in ``[start, end)``."""

    timeframe: str
    start: Time
    end: Time
    symbols: tuple[str, ...] = ()
    exchanges: tuple[str, ...] = ()
    fields: tuple[str, ...] | None = None
    limit: int = DEFAULT_LIMIT
    newest_first: bool = True
    travel: TimeTravel = CURRENT


@dataclass(frozen=True)
class ReplayQuery:
    """Ordered replay, oldest first, one page per call; pass the previous page's
    ``next_cursor`` as ``cursor`` with the same filters for the next."""

    start: Time
    end: Time
    data_type: str = "trades"
    symbols: tuple[str, ...] = ()
    exchanges: tuple[str, ...] = ()
    fields: tuple[str, ...] | None = None
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    travel: TimeTravel = CURRENT


@dataclass(frozen=True)
class SymbolsQuery:
    data_type: str = "trades"
    exchanges: tuple[str, ...] = ()
    start: Time | None = None
    end: Time | None = None
    travel: TimeTravel = CURRENT


@dataclass(frozen=True)
class StatsQuery:
    data_type: str = "trades"
    symbols: tuple[str, ...] = ()
    exchanges: tuple[str, ...] = ()
    start: Time | None = None
    end: Time | None = None
    travel: TimeTravel = CURRENT


@dataclass(frozen=True)
class AggregationQuery:
    """Aggregations of gold trades per (exchange, symbol) over ``[start, end)``.

    ``vwap``/``twap`` give the whole range's value and, with ``interval``, each bucket's;
    ``ohlcv`` needs ``interval``; ``volume_profile`` needs ``price_step``.
    """

    symbols: tuple[str, ...]
    start: Time
    end: Time
    metrics: tuple[Metric, ...]
    exchanges: tuple[str, ...] = ()
    interval: timedelta | None = None
    price_step: Decimal | None = None
    travel: TimeTravel = CURRENT


@dataclass(frozen=True)
class Page:
    rows: tuple[dict[str, Any], ...]
    has_more: bool
    snapshot_id: int | None
    files_scanned: int
    next_cursor: str | None = None
    rows_scanned: int = 0
    """Rows the scan read (after pruning, before the SQL's filters and limit)."""


@dataclass(frozen=True)
class Instrument:
    exchange: str
    symbol: str


@dataclass(frozen=True)
class InstrumentStats:
    exchange: str
    symbol: str
    row_count: int
    first_time: datetime
    last_time: datetime


@dataclass(frozen=True)
class Stats:
    snapshot_id: int | None
    instruments: tuple[InstrumentStats, ...]

    @property
    def row_count(self) -> int:
        return sum(item.row_count for item in self.instruments)


@dataclass(frozen=True)
class InstrumentAggregation:
    exchange: str
    symbol: str
    trade_count: int
    vwap: Decimal | None = None
    twap: Decimal | None = None
    buckets: tuple[Bucket, ...] = ()
    volume_profile: tuple[PriceLevel, ...] = ()


@dataclass(frozen=True)
class Aggregation:
    snapshot_id: int | None
    files_scanned: int
    instruments: tuple[InstrumentAggregation, ...]
    rows_scanned: int = 0
