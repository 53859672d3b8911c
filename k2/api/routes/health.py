"""``GET /health``: no key needed, so a load balancer or a person can ask."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from k2.api import API_VERSION, envelope, observability
from k2.api.dependencies import engine
from k2.api.envelope import Envelope
from k2.api.models import HealthOut
from k2.api.responses import json_response
from k2.query.engine import QueryEngine
from k2.query.fields import TRADES

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Envelope[HealthOut],
    responses={503: {"model": Envelope[HealthOut]}},
)
def health(query_engine: Annotated[QueryEngine, Depends(engine)]) -> Response:
    """200 when the catalog answers and the gold trades table loads; 503 otherwise."""
    started = time.perf_counter()
    try:
        query_engine.tables.table(TRADES.definition.identifier(query_engine.database))
    except Exception as error:  # any failure to reach the lake is what this reports
        observability.logger.warning("health check failed", extra={"error": repr(error)})
        checks = {"catalog": f"unavailable: {type(error).__name__}"}
        body = {"status": "unhealthy", "version": API_VERSION, "checks": checks}
        return json_response(envelope.success(body), status=503)
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    checks = {"catalog": f"ok in {elapsed} ms"}
    return json_response(
        envelope.success({"status": "healthy", "version": API_VERSION, "checks": checks})
    )
