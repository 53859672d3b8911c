"""Trades and quotes: GET for one question, POST for many symbols, filters and formats."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from k2.api import request_params
from k2.api.dependencies import engine
from k2.api.envelope import Envelope
from k2.api.models import Moment, Order, QuotesQueryRequest, RowsSelection, TradesQueryRequest
from k2.api.pages import page_response
from k2.api.row_models import row_model
from k2.query.engine import QueryEngine
from k2.query.fields import QUOTES, TRADES
from k2.query.limits import DEFAULT_LIMIT, MAX_ROWS_PER_REQUEST
from k2.query.requests import QuotesQuery, TradesQuery
from k2.query.time_travel import TimeTravel

router = APIRouter(tags=["trades and quotes"])

TradeRow = row_model(TRADES, "TradeRow")
QuoteRow = row_model(QUOTES, "QuoteRow")
Engine = Annotated[QueryEngine, Depends(engine)]
_DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}
}


@dataclass
class RowsParams:
    """The query string GET /v1/trades and GET /v1/quotes share."""

    symbol: Annotated[
        str | None, Query(max_length=2000, description="One symbol or a comma-separated list.")
    ] = None
    exchange: Annotated[str | None, Query(max_length=100, description="binance, kraken.")] = None
    start_time: Annotated[Moment | None, Query(description="Inclusive; default end - 1 hour.")] = (
        None
    )
    end_time: Annotated[Moment | None, Query(description="Exclusive; default now.")] = None
    fields: Annotated[str | None, Query(max_length=2000, description="Comma-separated.")] = None
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS_PER_REQUEST)] = DEFAULT_LIMIT
    order: Order = "desc"
    as_of: Annotated[Moment | None, Query(description="Read the table as it was then.")] = None

    def query(self) -> dict[str, Any]:
        """The engine query's common arguments."""
        start, end = request_params.window(
            self.start_time, self.end_time, request_params.DEFAULT_WINDOW
        )
        return {
            "start": start,
            "end": end,
            "symbols": request_params.split_list(self.symbol),
            "exchanges": request_params.split_list(self.exchange),
            "fields": request_params.fields_list(self.fields),
            "limit": self.limit,
            "newest_first": self.order == "desc",
            "travel": request_params.travel(self.as_of),
        }


def body_query(request: RowsSelection, travel: TimeTravel) -> dict[str, Any]:
    """The engine query's common arguments from a POST body."""
    start, end = request_params.window(
        request.start_time, request.end_time, request_params.DEFAULT_WINDOW
    )
    return {
        "start": start,
        "end": end,
        "symbols": tuple(request.symbols),
        "exchanges": tuple(request.exchanges),
        "fields": tuple(request.fields) if request.fields is not None else None,
        "limit": request.limit,
        "newest_first": request.order == "desc",
        "travel": travel,
    }


@router.get("/trades", response_model=Envelope[list[TradeRow]])  # type: ignore[valid-type]
def get_trades(query_engine: Engine, params: Annotated[RowsParams, Depends()]) -> Response:
    """Gold trades, newest first, deduplicated and exact."""
    query = params.query()
    page = query_engine.trades(TradesQuery(**query))
    return page_response(page, params.limit, TRADES, query["fields"])


@router.post(
    "/trades/query",
    response_model=Envelope[list[TradeRow]],  # type: ignore[valid-type]
    responses=_DOWNLOADS,
)
def query_trades(request: TradesQueryRequest, query_engine: Engine) -> Response:
    """Many symbols and exchanges, field selection, price and quantity bounds; JSON, CSV or
    Parquet."""
    query = body_query(request, request_params.travel(request.as_of))
    page = query_engine.trades(
        TradesQuery(
            **query,
            min_price=request.min_price,
            max_price=request.max_price,
            min_quantity=request.min_quantity,
            max_quantity=request.max_quantity,
        )
    )
    return page_response(page, request.limit, TRADES, query["fields"], request.format)


@router.get("/quotes", response_model=Envelope[list[QuoteRow]])  # type: ignore[valid-type]
def get_quotes(query_engine: Engine, params: Annotated[RowsParams, Depends()]) -> Response:
    """Gold best bid/ask updates by ingestion time, newest first."""
    query = params.query()
    page = query_engine.quotes(QuotesQuery(**query))
    return page_response(page, params.limit, QUOTES, query["fields"])


@router.post(
    "/quotes/query",
    response_model=Envelope[list[QuoteRow]],  # type: ignore[valid-type]
    responses=_DOWNLOADS,
)
def query_quotes(request: QuotesQueryRequest, query_engine: Engine) -> Response:
    """Many symbols and exchanges, field selection; JSON, CSV or Parquet."""
    query = body_query(request, request_params.travel(request.as_of))
    page = query_engine.quotes(QuotesQuery(**query))
    return page_response(page, request.limit, QUOTES, query["fields"], request.format)
