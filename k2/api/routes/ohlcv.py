"""OHLCV bars: one series, a batch of series, their freshness, and a day's summary.

``/ohlcv/health`` is declared before ``/ohlcv/{timeframe}`` (and the timeframe is an enum), so
the old API's bug, the health route shadowed by the path parameter, cannot come back.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from starlette.responses import Response

from k2.api import envelope, observability, request_params
from k2.api.dependencies import engine
from k2.api.envelope import Envelope
from k2.api.errors import ApiError
from k2.api.models import (
    MAX_BATCH_BARS,
    MAX_BATCH_QUERIES,
    BatchItemOut,
    Moment,
    OhlcvHealthOut,
    OhlcvQuery,
    Order,
    SummaryOut,
    Symbol,
)
from k2.api.pages import page_response
from k2.api.responses import json_response
from k2.api.row_models import row_model
from k2.domain.decimals import plain_text
from k2.domain.ohlcv import DEFAULT_RETENTION_DAYS, Timeframe
from k2.query.engine import QueryEngine
from k2.query.errors import LimitExceededError, QueryError
from k2.query.fields import bars_for
from k2.query.limits import DEFAULT_LIMIT, MAX_BARS_PER_REQUEST
from k2.query.params import normalise_symbol
from k2.query.requests import BarsQuery, Page

router = APIRouter(tags=["ohlcv"])
Engine = Annotated[QueryEngine, Depends(engine)]
BarRow = row_model(bars_for(Timeframe.ONE_MINUTE), "BarRow")

FRESHNESS_MINUTES = {
    Timeframe.ONE_MINUTE: 10,
    Timeframe.FIVE_MINUTES: 20,
    Timeframe.THIRTY_MINUTES: 60,
    Timeframe.ONE_HOUR: 120,
    Timeframe.ONE_DAY: 1500,
}
"""A timeframe is stale when its newest bar started longer ago than this."""


def _bars(
    query_engine: QueryEngine,
    timeframe: Timeframe,
    symbols: tuple[str, ...],
    exchanges: tuple[str, ...],
    start_time: str | None,
    end_time: str | None,
    limit: int,
    newest_first: bool = True,
    fields: tuple[str, ...] | None = None,
    as_of: str | None = None,
) -> Page:
    """Without a start, the window holds exactly ``limit`` bars' worth of time before end."""
    span = timedelta(microseconds=timeframe.micros * limit)
    start, end = request_params.window(start_time, end_time, span)
    return query_engine.bars(
        BarsQuery(
            timeframe=timeframe,
            start=start,
            end=end,
            symbols=symbols,
            exchanges=exchanges,
            fields=fields,
            limit=limit,
            newest_first=newest_first,
            travel=request_params.travel(as_of),
        )
    )


@router.get("/ohlcv/health", response_model=Envelope[OhlcvHealthOut])
def ohlcv_health(query_engine: Engine) -> Response:
    """Freshness per timeframe: the age of the newest bar against its threshold."""
    now = datetime.now(UTC)
    checks: list[dict[str, Any]] = []
    for timeframe in Timeframe:
        threshold = FRESHNESS_MINUTES[timeframe]
        page = query_engine.bars(
            BarsQuery(
                timeframe=timeframe,
                start=now - timedelta(days=DEFAULT_RETENTION_DAYS[timeframe]),
                end=now + timedelta(microseconds=timeframe.micros),
                fields=("window_start",),
                limit=1,
            )
        )
        observability.record_page(page)
        newest = page.rows[0]["window_start"] if page.rows else None
        age = None if newest is None else (now - newest).total_seconds() / 60
        status = "no_data" if age is None else "healthy" if age <= threshold else "stale"
        checks.append(
            {
                "timeframe": timeframe.value,
                "status": status,
                "last_window_start": newest,
                "age_minutes": None if age is None else round(age, 2),
                "threshold_minutes": threshold,
            }
        )
    overall = "healthy" if all(c["status"] == "healthy" for c in checks) else "degraded"
    return json_response(envelope.success({"overall_status": overall, "timeframes": checks}))


@router.get("/ohlcv/{timeframe}", response_model=Envelope[list[BarRow]])  # type: ignore[valid-type]
def get_ohlcv(
    query_engine: Engine,
    timeframe: Annotated[Timeframe, Path(description="1m, 5m, 30m, 1h or 1d.")],
    symbol: Annotated[str, Query(max_length=2000, description="One or comma-separated.")],
    exchange: Annotated[str | None, Query(max_length=100)] = None,
    start_time: Annotated[
        Moment | None, Query(description="Default: limit bars before end.")
    ] = None,
    end_time: Annotated[Moment | None, Query(description="Exclusive; default now.")] = None,
    fields: Annotated[str | None, Query(max_length=2000)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_BARS_PER_REQUEST)] = DEFAULT_LIMIT,
    order: Order = "desc",
    as_of: Annotated[Moment | None, Query()] = None,
) -> Response:
    """Bars of one timeframe with window_start in [start_time, end_time), newest first."""
    chosen = request_params.fields_list(fields)
    page = _bars(
        query_engine,
        timeframe,
        request_params.split_list(symbol),
        request_params.split_list(exchange),
        start_time,
        end_time,
        limit,
        newest_first=order == "desc",
        fields=chosen,
        as_of=as_of,
    )
    return page_response(page, limit, bars_for(timeframe), chosen)


def _batch_key(query: OhlcvQuery) -> str:
    symbol = query.symbol.strip().upper()
    suffix = f"_{query.exchange.strip().lower()}" if query.exchange else ""
    return f"{query.timeframe.value}_{symbol}{suffix}"


@router.post("/ohlcv/batch", response_model=Envelope[list[BatchItemOut]])
def ohlcv_batch(
    query_engine: Engine,
    queries: Annotated[list[OhlcvQuery], Body(min_length=1, max_length=MAX_BATCH_QUERIES)],
) -> Response:
    """Up to 5 series in one call; each item succeeds or fails on its own."""
    total = sum(query.limit for query in queries)
    if total > MAX_BATCH_BARS:
        raise LimitExceededError(f"the batch asks for {total} bars; at most {MAX_BATCH_BARS}")
    items: list[dict[str, Any]] = []
    for query in queries:
        item: dict[str, Any] = {"key": _batch_key(query)}
        try:
            page = _bars(
                query_engine,
                query.timeframe,
                (query.symbol,),
                (query.exchange,) if query.exchange else (),
                query.start_time,
                query.end_time,
                query.limit,
            )
        except QueryError as error:
            item |= {"success": False, "error": {"code": error.code, "message": str(error)}}
        else:
            observability.record_page(page)
            pagination = {"limit": query.limit, "returned": len(page.rows)}
            pagination["has_more"] = page.has_more
            item |= {"success": True, "data": list(page.rows), "pagination": pagination}
        items.append(item)
    return json_response(envelope.success(items))


@router.get("/summary/{symbol}/{day}", response_model=Envelope[list[SummaryOut]])
def daily_summary(
    query_engine: Engine,
    symbol: Annotated[Symbol, Path()],
    day: Annotated[date, Path(description="A UTC day, YYYY-MM-DD.")],
    exchange: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """The day's 1d bar per exchange (open, high, low, close, volume, VWAP, trades)."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    page = query_engine.bars(
        BarsQuery(
            timeframe=Timeframe.ONE_DAY,
            start=start,
            end=start + timedelta(days=1),
            symbols=(symbol,),
            exchanges=(exchange,) if exchange else (),
            limit=10,
        )
    )
    observability.record_page(page)
    if not page.rows:
        raise ApiError(404, "not_found", f"no {normalise_symbol(symbol)} bar for {day}")
    summaries = [
        {
            "exchange": bar["exchange"],
            "symbol": bar["symbol"],
            "date": day.isoformat(),
            **{name: plain_text(bar[name]) for name in _SUMMARY_DECIMALS},
            "trade_count": bar["trade_count"],
        }
        for bar in page.rows
    ]
    return json_response(envelope.success(summaries, snapshot_id=page.snapshot_id))


_SUMMARY_DECIMALS = ("open", "high", "low", "close", "volume", "vwap")
