"""``X-API-Key`` on every ``/v1`` route: 401 when absent, 403 when not a configured key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from k2.api.errors import ApiError
from k2.api.keys import ApiKeyring

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key of this deployment."
)


def require_api_key(
    request: Request, offered: Annotated[str | None, Depends(api_key_header)]
) -> None:
    keyring: ApiKeyring = request.app.state.keyring
    if not offered:
        raise ApiError(401, "missing_api_key", "send your API key in the X-API-Key header")
    if not keyring.accepts(offered):
        raise ApiError(403, "invalid_api_key", "the X-API-Key header is not a valid key")
