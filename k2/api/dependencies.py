"""What a route needs from the app: the query engine, built once per container."""

from __future__ import annotations

from fastapi import Request

from k2.query.engine import QueryEngine


def engine(request: Request) -> QueryEngine:
    built: QueryEngine = request.app.state.engine
    return built
