"""Request bodies of the POST endpoints, and the response shapes that are not table rows.

Bounds that are pure shape (list lengths, page sizes) are declared here so OpenAPI shows them
and a violation is a 422 ``validation_error``; everything about meaning (symbols, times,
fields, ranges) is checked by the engine, with its own codes.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from k2.api.responses import OutputFormat
from k2.domain.ohlcv import Timeframe
from k2.query.aggregations import Metric
from k2.query.limits import (
    DEFAULT_LIMIT,
    MAX_BARS_PER_REQUEST,
    MAX_CURSOR_CHARS,
    MAX_ROWS_PER_REQUEST,
    MAX_SYMBOLS,
)

MAX_BATCH_QUERIES = 5
MAX_BATCH_BARS = 25_000
MAX_AGGREGATION_SYMBOLS = 50
_TEXT = 64

Symbol = Annotated[str, Field(max_length=_TEXT, examples=["BTCUSDT"])]
Exchange = Annotated[str, Field(max_length=_TEXT, examples=["binance"])]
FieldName = Annotated[str, Field(max_length=_TEXT)]
Moment = Annotated[
    str,
    Field(max_length=_TEXT, description="ISO-8601 with a zone", examples=["2026-01-22T14:00:00Z"]),
]
Order = Literal["asc", "desc"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RowsSelection(Strict):
    """Which trades or quotes a POST asks for, and in what form."""

    symbols: list[Symbol] = Field(
        default_factory=list, max_length=MAX_SYMBOLS, description="Empty: every symbol."
    )
    exchanges: list[Exchange] = Field(default_factory=list, max_length=8)
    start_time: Moment | None = Field(None, description="Inclusive; default end_time - 1 hour.")
    end_time: Moment | None = Field(None, description="Exclusive; default now.")
    fields: list[FieldName] | None = Field(None, max_length=64, description="Default: all.")
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_ROWS_PER_REQUEST)
    order: Order = "desc"
    format: OutputFormat = OutputFormat.JSON


class RowsQuery(RowsSelection):
    as_of: Moment | None = Field(None, description="Read the tables as they were then.")


class TradesQueryRequest(RowsQuery):
    min_price: Decimal | None = Field(None, ge=0)
    max_price: Decimal | None = Field(None, ge=0)
    min_quantity: Decimal | None = Field(None, ge=0)
    max_quantity: Decimal | None = Field(None, ge=0)


class QuotesQueryRequest(RowsQuery):
    pass


class SnapshotQueryRequest(RowsSelection):
    data_type: Literal["trades", "quotes"] = "trades"


class OhlcvQuery(Strict):
    symbol: Symbol
    timeframe: Timeframe
    exchange: Exchange | None = None
    start_time: Moment | None = None
    end_time: Moment | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_BARS_PER_REQUEST)


class ReplayRequest(Strict):
    data_type: Literal["trades", "quotes"] = "trades"
    symbols: list[Symbol] = Field(default_factory=list, max_length=MAX_SYMBOLS)
    exchanges: list[Exchange] = Field(default_factory=list, max_length=8)
    start_time: Moment
    end_time: Moment
    fields: list[FieldName] | None = Field(None, max_length=64)
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_ROWS_PER_REQUEST)
    cursor: str | None = Field(
        None, max_length=MAX_CURSOR_CHARS, description="The previous page's next_cursor."
    )
    as_of: Moment | None = Field(None, description="First page only: replay the state then.")


class AggregationRequest(Strict):
    symbols: list[Symbol] = Field(min_length=1, max_length=MAX_AGGREGATION_SYMBOLS)
    exchanges: list[Exchange] = Field(default_factory=list, max_length=8)
    metrics: list[Metric] = Field(min_length=1, max_length=4)
    start_time: Moment
    end_time: Moment
    interval: str | None = Field(
        None,
        max_length=16,
        description="Bucket width: 1min, 5min, 15min, 30min, 1hour, 1day, or <n>s|m|h|d",
        examples=["5min", "1h"],
    )
    price_step: Decimal | None = Field(None, gt=0, description="volume_profile's level width.")
    as_of: Moment | None = None


# --- response shapes that are not table rows ---------------------------------------------


class InstrumentOut(BaseModel):
    exchange: str
    symbol: str


class SnapshotOut(BaseModel):
    snapshot_id: int
    parent_id: int | None
    committed_at: datetime
    operation: str
    added_records: int | None
    deleted_records: int | None
    total_records: int | None
    added_data_files: int | None


class TableStatsOut(BaseModel):
    table: str
    snapshot_id: int | None
    committed_at: datetime | None
    data_file_records: int | None = Field(description="Rows in data files, before deletes.")
    delete_records: int | None = Field(description="Position and equality deletes.")
    data_files: int | None


class SummaryOut(BaseModel):
    exchange: str
    symbol: str
    date: str
    open: str
    high: str
    low: str
    close: str
    volume: str
    vwap: str
    trade_count: int


class TimeframeHealth(BaseModel):
    timeframe: str
    status: Literal["healthy", "stale", "no_data"]
    last_window_start: datetime | None
    age_minutes: float | None
    threshold_minutes: int


class OhlcvHealthOut(BaseModel):
    overall_status: Literal["healthy", "degraded"]
    timeframes: list[TimeframeHealth]


class BatchItemOut(BaseModel):
    key: str = Field(description="'{timeframe}_{SYMBOL}' (plus '_{exchange}' when given).")
    success: bool
    data: list[dict[str, object]] | None = None
    pagination: dict[str, object] | None = None
    error: dict[str, str] | None = None


class BucketOut(BaseModel):
    start: datetime
    end: datetime
    open: str
    high: str
    low: str
    close: str
    volume: str
    notional: str
    trade_count: int
    vwap: str
    twap: str


class PriceLevelOut(BaseModel):
    price_low: str
    price_high: str
    volume: str
    trade_count: int


class AggregationOut(BaseModel):
    exchange: str
    symbol: str
    trade_count: int
    vwap: str | None = None
    twap: str | None = None
    buckets: list[BucketOut] = Field(default_factory=list)
    volume_profile: list[PriceLevelOut] = Field(default_factory=list)


class HealthOut(BaseModel):
    status: Literal["healthy", "unhealthy"]
    version: str
    checks: dict[str, str]
