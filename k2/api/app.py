"""The FastAPI application: routers, auth, errors, CORS and the request middleware.

``create_app`` takes its collaborators (engine, keys, settings) so tests and the local API
Gateway build the same app the Lambda handler does; ``app_from_environment`` is the one place
that reads configuration.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from k2.api import API_VERSION, correlation, errors
from k2.api.auth import require_api_key
from k2.api.envelope import ErrorEnvelope
from k2.api.keys import ApiKeyring, load_keyring
from k2.api.middleware import RequestContextMiddleware
from k2.api.routes import analytics, catalog, health, ohlcv, rows
from k2.api.settings import ApiSettings
from k2.query.engine import DEFAULT_CURSOR_SECRET, QueryEngine
from k2.settings import K2Settings

TITLE = "K2 Market Data API"
DESCRIPTION = """Exact, deduplicated crypto trades, quotes and OHLCV bars from the K2 lakehouse.

Every `/v1` route needs an `X-API-Key` header. Times are ISO-8601 with a zone; ranges are
`[start_time, end_time)`; decimals are exact strings. Errors are
`{success: false, error: {code, message}}` with a 4xx status and a stable code."""

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in {
        400: "Invalid parameter (code says which rule)",
        401: "Missing X-API-Key",
        403: "Missing or invalid X-API-Key (API Gateway answers code forbidden)",
        404: "Snapshot or resource not found",
        410: "The snapshot asked for has been expired",
        413: "Body too large, or the request would read too many rows",
        422: "Request does not match the schema",
        429: "Throttled or over quota (API Gateway usage plan)",
    }.items()
}


def create_app(engine: QueryEngine, keyring: ApiKeyring, settings: ApiSettings) -> FastAPI:
    app = FastAPI(
        title=TITLE,
        version=API_VERSION,
        description=DESCRIPTION,
        responses={**{k: v for k, v in _ERRORS.items() if k in (413, 422)}},
    )
    app.state.engine = engine
    app.state.keyring = keyring
    errors.install(app)

    app.include_router(health.router)
    for module in (rows, ohlcv, catalog, analytics):
        app.include_router(
            module.router,
            prefix="/v1",
            dependencies=[Depends(require_api_key)],
            responses=_ERRORS,
        )

    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Content-Type", "X-API-Key", correlation.HEADER],
        expose_headers=[correlation.HEADER, "X-Record-Count", "X-Has-More", "X-Snapshot-Id"],
        max_age=600,
    )
    # Added last, so outermost: every response, CORS preflights included, gets its headers.
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes)
    return app


def app_from_environment() -> FastAPI:
    """The app as a deployment configures it: K2_* names and endpoints, K2_API_* keys."""
    aws = K2Settings()
    settings = ApiSettings()
    secret = (
        settings.cursor_secret.get_secret_value().encode()
        if settings.cursor_secret
        else DEFAULT_CURSOR_SECRET
    )
    engine = QueryEngine.from_settings(
        aws, ttl_seconds=settings.metadata_ttl_seconds, cursor_secret=secret
    )
    return create_app(engine, load_keyring(settings, aws), settings)
