"""Trades and quotes: GET for one question, POST for many symbols, filters and formats."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from k2.api import request_params
from k2.api.dependencies import engine
from k2.api.envelope import Envelope
from k2.api.models import Moment, Order, QuotesQueryRequest, TradesQueryRequest
from k2.api.pages import page_response
from k2.api.row_models import row_model
from k2.query.engine import QueryEngine
from k2.query.fields import QUOTES, TRADES
from k2.query.limits import DEFAULT_LIMIT, MAX_ROWS_PER_REQUEST
from k2.query.requests import QuotesQuery, TradesQuery

router = APIRouter(tags=["trades and quotes"])

TradeRow = row_model(TRADES, "TradeRow")
QuoteRow = row_model(QUOTES, "QuoteRow")
Engine = Annotated[QueryEngine, Depends(engine)]
SymbolParam = Annotated[
    str | None, Query(max_length=2000, description="One symbol or a comma-separated list.")
]
ExchangeParam = Annotated[str | None, Query(max_length=100, description="binance, kraken.")]
StartParam = Annotated[Moment | None, Query(description="Inclusive; default end - 1 hour.")]
EndParam = Annotated[Moment | None, Query(description="Exclusive; default now.")]
FieldsParam = Annotated[str | None, Query(max_length=2000, description="Comma-separated.")]
LimitParam = Annotated[int, Query(ge=1, le=MAX_ROWS_PER_REQUEST)]
AsOfParam = Annotated[Moment | None, Query(description="Read the table as it was then.")]


@router.get("/trades", response_model=Envelope[list[TradeRow]])  # type: ignore[valid-type]
def get_trades(
    query_engine: Engine,
    symbol: SymbolParam = None,
    exchange: ExchangeParam = None,
    start_time: StartParam = None,
    end_time: EndParam = None,
    fields: FieldsParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    order: Order = "desc",
    as_of: AsOfParam = None,
) -> Response:
    """Gold trades, newest first, deduplicated and exact."""
    start, end = request_params.window(start_time, end_time, request_params.DEFAULT_WINDOW)
    chosen = request_params.fields_list(fields)
    page = query_engine.trades(
        TradesQuery(
            start=start,
            end=end,
            symbols=request_params.split_list(symbol),
            exchanges=request_params.split_list(exchange),
            fields=chosen,
            limit=limit,
            newest_first=order == "desc",
            travel=request_params.travel(as_of),
        )
    )
    return page_response(page, limit, TRADES, chosen)


@router.post(
    "/trades/query",
    response_model=Envelope[list[TradeRow]],  # type: ignore[valid-type]
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
def query_trades(request: TradesQueryRequest, query_engine: Engine) -> Response:
    """Many symbols and exchanges, field selection, price and quantity bounds; JSON, CSV or
    Parquet."""
    start, end = request_params.window(
        request.start_time, request.end_time, request_params.DEFAULT_WINDOW
    )
    fields = tuple(request.fields) if request.fields is not None else None
    page = query_engine.trades(
        TradesQuery(
            start=start,
            end=end,
            symbols=tuple(request.symbols),
            exchanges=tuple(request.exchanges),
            fields=fields,
            min_price=request.min_price,
            max_price=request.max_price,
            min_quantity=request.min_quantity,
            max_quantity=request.max_quantity,
            limit=request.limit,
            newest_first=request.order == "desc",
            travel=request_params.travel(request.as_of),
        )
    )
    return page_response(page, request.limit, TRADES, fields, request.format)


@router.get("/quotes", response_model=Envelope[list[QuoteRow]])  # type: ignore[valid-type]
def get_quotes(
    query_engine: Engine,
    symbol: SymbolParam = None,
    exchange: ExchangeParam = None,
    start_time: StartParam = None,
    end_time: EndParam = None,
    fields: FieldsParam = None,
    limit: LimitParam = DEFAULT_LIMIT,
    order: Order = "desc",
    as_of: AsOfParam = None,
) -> Response:
    """Gold best bid/ask updates by ingestion time, newest first."""
    start, end = request_params.window(start_time, end_time, request_params.DEFAULT_WINDOW)
    chosen = request_params.fields_list(fields)
    page = query_engine.quotes(
        QuotesQuery(
            start=start,
            end=end,
            symbols=request_params.split_list(symbol),
            exchanges=request_params.split_list(exchange),
            fields=chosen,
            limit=limit,
            newest_first=order == "desc",
            travel=request_params.travel(as_of),
        )
    )
    return page_response(page, limit, QUOTES, chosen)


@router.post(
    "/quotes/query",
    response_model=Envelope[list[QuoteRow]],  # type: ignore[valid-type]
    responses={200: {"content": {"text/csv": {}, "application/vnd.apache.parquet": {}}}},
)
def query_quotes(request: QuotesQueryRequest, query_engine: Engine) -> Response:
    """Many symbols and exchanges, field selection; JSON, CSV or Parquet."""
    start, end = request_params.window(
        request.start_time, request.end_time, request_params.DEFAULT_WINDOW
    )
    fields = tuple(request.fields) if request.fields is not None else None
    page = query_engine.quotes(
        QuotesQuery(
            start=start,
            end=end,
            symbols=tuple(request.symbols),
            exchanges=tuple(request.exchanges),
            fields=fields,
            limit=request.limit,
            newest_first=request.order == "desc",
            travel=request_params.travel(request.as_of),
        )
    )
    return page_response(page, request.limit, QUOTES, fields, request.format)
