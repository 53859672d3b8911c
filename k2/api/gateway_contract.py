"""What API Gateway does in front of the API, defined once for the CDK stack and the local
gateway: which routes need no key, and how gateway-made errors look (K2's error envelope with a
stable code, like the app's own errors)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

API_KEY_HEADER = "X-API-Key"
KEYLESS_ROUTES = frozenset({("GET", "/health"), ("GET", "/docs"), ("GET", "/openapi.json")})
"""Methods deployed with ``apiKeyRequired: false``; so is every OPTIONS (CORS preflight)."""


@dataclass(frozen=True)
class GatewayError:
    """A customised API Gateway response: the status, the envelope's code and message."""

    response_type: str  # API Gateway's GatewayResponseType
    status: int
    code: str
    message: str
    retry_after_s: int | None = None


GATEWAY_ERRORS: tuple[GatewayError, ...] = (
    GatewayError(
        "INVALID_API_KEY",
        403,
        "forbidden",
        f"Forbidden: a valid {API_KEY_HEADER} header is required",
    ),
    GatewayError(
        "MISSING_AUTHENTICATION_TOKEN",
        403,
        "missing_authentication_token",
        "Missing Authentication Token: not a method or path of this API",
    ),
    GatewayError(
        "THROTTLED",
        429,
        "throttled",
        "Too many requests: the API key's rate limit is exceeded; retry in 1s",
        retry_after_s=1,
    ),
    GatewayError(
        "QUOTA_EXCEEDED",
        429,
        "quota_exceeded",
        "Limit exceeded: the API key's quota is used up until the quota period renews",
        retry_after_s=3600,
    ),
    GatewayError(
        "REQUEST_TOO_LARGE", 413, "request_too_large", "Request too large: the limit is 10 MB"
    ),
)

GATEWAY_ERROR_BY_TYPE: Mapping[str, GatewayError] = MappingProxyType(
    {error.response_type: error for error in GATEWAY_ERRORS}
)
"""The same errors by response type, for code that answers one itself (the local gateway)."""
