"""What the lake holds: symbols, table statistics, snapshots, and reads at a snapshot."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from k2.api import envelope, observability, request_params
from k2.api.dependencies import engine
from k2.api.envelope import Envelope
from k2.api.models import (
    InstrumentOut,
    Moment,
    SnapshotOut,
    SnapshotQueryRequest,
    TableStatsOut,
)
from k2.api.pages import page_response
from k2.api.responses import json_response
from k2.api.routes.rows import body_query
from k2.domain.ohlcv import Timeframe
from k2.query.engine import QueryEngine
from k2.query.fields import QUOTES, TRADES, QueryableTable, bars_for, for_data_type
from k2.query.limits import MAX_SNAPSHOTS
from k2.query.requests import QuotesQuery, SymbolsQuery, TradesQuery

router = APIRouter(tags=["catalog and time travel"])
Engine = Annotated[QueryEngine, Depends(engine)]

TABLES: dict[str, QueryableTable] = {
    "trades": TRADES,
    "quotes": QUOTES,
    **{f"ohlcv_{timeframe.value}": bars_for(timeframe) for timeframe in Timeframe},
}
TableName = Literal["trades", "quotes", "ohlcv_1m", "ohlcv_5m", "ohlcv_30m", "ohlcv_1h", "ohlcv_1d"]


@router.get("/symbols", response_model=Envelope[list[InstrumentOut]])
def symbols(
    query_engine: Engine,
    exchange: Annotated[str | None, Query(max_length=100)] = None,
    data_type: Literal["trades", "quotes"] = "trades",
    start_time: Annotated[Moment | None, Query()] = None,
    end_time: Annotated[Moment | None, Query()] = None,
    as_of: Annotated[Moment | None, Query()] = None,
) -> Response:
    """Every (exchange, symbol) with data (in the range, when one is given)."""
    found = query_engine.symbols(
        SymbolsQuery(
            data_type=data_type,
            exchanges=request_params.split_list(exchange),
            start=start_time,
            end=end_time,
            travel=request_params.travel(as_of),
        )
    )
    observability.record_read(len(found), 0, 0)
    return json_response(envelope.success([asdict(item) for item in found]))


@router.get("/stats", response_model=Envelope[list[TableStatsOut]])
def stats(query_engine: Engine) -> Response:
    """Row and file counts of every queryable table, from its newest snapshot's summary (no
    data is read)."""
    tables = []
    for name, table in TABLES.items():
        newest = query_engine.snapshots(table, limit=1)
        snapshot = newest[0] if newest else None
        summary = snapshot.summary if snapshot else {}
        deletes = [
            int(summary[key])
            for key in ("total-position-deletes", "total-equality-deletes")
            if key in summary
        ]
        tables.append(
            {
                "table": name,
                "snapshot_id": snapshot.snapshot_id if snapshot else None,
                "committed_at": snapshot.committed_at if snapshot else None,
                "data_file_records": snapshot.total_records if snapshot else None,
                "delete_records": sum(deletes) if deletes else None,
                "data_files": int(summary["total-data-files"])
                if "total-data-files" in summary
                else None,
            }
        )
    return json_response(envelope.success(tables))


@router.get("/snapshots", response_model=Envelope[list[SnapshotOut]])
def snapshots(
    query_engine: Engine,
    table: TableName = "trades",
    limit: Annotated[int, Query(ge=1, le=MAX_SNAPSHOTS)] = 10,
) -> Response:
    """The table's Iceberg snapshots, newest first: ids to pass to time-travel reads."""
    listed = query_engine.snapshots(TABLES[table], limit)
    data: list[dict[str, Any]] = []
    for snapshot in listed:
        item = asdict(snapshot)
        item.pop("summary")
        data.append(item)
    return json_response(envelope.success(data))


@router.post("/snapshots/{snapshot_id}/query")
def query_snapshot(
    query_engine: Engine,
    snapshot_id: Annotated[int, Path(ge=0, le=2**63 - 1)],
    request: SnapshotQueryRequest,
) -> Response:
    """Trades or quotes exactly as they were in one snapshot (ids from /v1/snapshots)."""
    table = for_data_type(request.data_type)
    common = body_query(request, request_params.travel(snapshot_id=snapshot_id))
    page = (
        query_engine.trades(TradesQuery(**common))
        if table is TRADES
        else query_engine.quotes(QuotesQuery(**common))
    )
    return page_response(page, request.limit, table, common["fields"], request.format)
