"""Ordered replay with a keyset cursor, and aggregations (VWAP, TWAP, buckets, profiles)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from starlette.responses import Response

from k2.api import envelope, observability, request_params
from k2.api.dependencies import engine
from k2.api.envelope import Envelope
from k2.api.models import AggregationOut, AggregationRequest, ReplayRequest
from k2.api.pages import page_response
from k2.api.responses import json_response
from k2.domain.decimals import plain_text
from k2.query.aggregations import Bucket, PriceLevel
from k2.query.engine import QueryEngine
from k2.query.errors import InvalidParameterError
from k2.query.fields import for_data_type
from k2.query.params import from_micros
from k2.query.requests import AggregationQuery, InstrumentAggregation, ReplayQuery

router = APIRouter(tags=["replay and aggregations"])
Engine = Annotated[QueryEngine, Depends(engine)]

_NAMED_INTERVALS = {
    "1min": timedelta(minutes=1),
    "5min": timedelta(minutes=5),
    "15min": timedelta(minutes=15),
    "30min": timedelta(minutes=30),
    "1hour": timedelta(hours=1),
    "1day": timedelta(days=1),
}
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_INTERVAL = re.compile(r"([1-9][0-9]{0,5})([smhd])")


def parse_interval(text: str) -> timedelta:
    """``5min`` / ``1hour`` (the old API's names) or ``<n>s|m|h|d``."""
    cleaned = text.strip().lower()
    if cleaned in _NAMED_INTERVALS:
        return _NAMED_INTERVALS[cleaned]
    match = _INTERVAL.fullmatch(cleaned)
    if match is None:
        raise InvalidParameterError(
            f"interval {text[:20]!r}: use 1min, 5min, 15min, 30min, 1hour, 1day or <n>s|m|h|d"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@router.post("/replay")
def replay(request: ReplayRequest, query_engine: Engine) -> Response:
    """One page of trades or quotes in time order, oldest first. Pass ``next_cursor`` back as
    ``cursor`` with the same filters for the next page; every page reads the first page's
    snapshot, so rows appended meanwhile never shift or repeat a page."""
    fields = tuple(request.fields) if request.fields is not None else None
    page = query_engine.replay(
        ReplayQuery(
            start=request.start_time,
            end=request.end_time,
            data_type=request.data_type,
            symbols=tuple(request.symbols),
            exchanges=tuple(request.exchanges),
            fields=fields,
            limit=request.limit,
            cursor=request.cursor,
            travel=request_params.travel(request.as_of),
        )
    )
    return page_response(page, request.limit, for_data_type(request.data_type), fields)


def _bucket(bucket: Bucket) -> dict[str, Any]:
    return {
        "start": from_micros(bucket.start_us),
        "end": from_micros(bucket.end_us),
        **{
            name: plain_text(getattr(bucket, name))
            for name in ("open", "high", "low", "close", "volume", "notional", "vwap", "twap")
        },
        "trade_count": bucket.trade_count,
    }


def _level(level: PriceLevel) -> dict[str, Any]:
    return {
        "price_low": plain_text(level.price_low),
        "price_high": plain_text(level.price_high),
        "volume": plain_text(level.volume),
        "trade_count": level.trade_count,
    }


def _instrument(result: InstrumentAggregation) -> dict[str, Any]:
    return {
        "exchange": result.exchange,
        "symbol": result.symbol,
        "trade_count": result.trade_count,
        "vwap": None if result.vwap is None else plain_text(result.vwap),
        "twap": None if result.twap is None else plain_text(result.twap),
        "buckets": [_bucket(bucket) for bucket in result.buckets],
        "volume_profile": [_level(level) for level in result.volume_profile],
    }


@router.post("/aggregations", response_model=Envelope[list[AggregationOut]])
def aggregations(request: AggregationRequest, query_engine: Engine) -> Response:
    """Per (exchange, symbol) over [start_time, end_time): exact VWAP, time-weighted TWAP,
    OHLCV buckets at any interval, and a volume profile by price level."""
    result = query_engine.aggregate(
        AggregationQuery(
            symbols=tuple(request.symbols),
            start=request.start_time,
            end=request.end_time,
            metrics=tuple(request.metrics),
            exchanges=tuple(request.exchanges),
            interval=None if request.interval is None else parse_interval(request.interval),
            price_step=request.price_step,
            travel=request_params.travel(request.as_of),
        )
    )
    observability.record_read(len(result.instruments), result.files_scanned, result.rows_scanned)
    data = [_instrument(item) for item in result.instruments]
    return json_response(
        envelope.success(data, snapshot_id=result.snapshot_id, files_scanned=result.files_scanned)
    )
