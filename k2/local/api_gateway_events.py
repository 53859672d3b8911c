"""API Gateway REST API (v1) Lambda proxy integration, both directions, as pure functions.

The local gateway hands the API's Lambda handler exactly the event AWS would, and reads the
handler's answer exactly as AWS reads it (a malformed answer is a 502), so the handler behaves the
same in front of the local gateway as in front of the real one.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import secrets
import string
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

ACCOUNT_ID = "123456789012"  # the local AWS endpoint's (moto's) account
API_ID = "k2localapi"  # a REST API id: ten lowercase letters and digits
PROXY_RESOURCE = "/{proxy+}"
ROOT_RESOURCE = "/"
DEFAULT_BINARY_MEDIA_TYPES = (
    "application/octet-stream",
    "application/zip",
    "application/gzip",
    "application/vnd.apache.parquet",
    "application/x-protobuf",
    "image/*",
    "audio/*",
    "video/*",
)
"""The REST API's ``binaryMediaTypes``: request bodies of these types reach Lambda as base64."""

_IDENTITY_KEYS = (
    "accessKey",
    "accountId",
    "apiKey",
    "apiKeyId",
    "caller",
    "cognitoAuthenticationProvider",
    "cognitoAuthenticationType",
    "cognitoIdentityId",
    "cognitoIdentityPoolId",
    "principalOrgId",
    "sourceIp",
    "user",
    "userAgent",
    "userArn",
)
_RESPONSE_KEYS = frozenset(
    {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"}
)
_EXTENDED_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class HttpRequest:
    """One request as it reached the gateway: the part of HTTP a proxy event carries."""

    method: str
    raw_path: str
    query_string: str
    headers: Sequence[tuple[str, str]]
    """In arrival order; a name may repeat."""
    body: bytes
    source_ip: str
    api_key: str | None = None
    api_key_id: str | None = None
    stage: str = "local"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class MalformedProxyResponseError(ValueError):
    """The handler's answer is not a Lambda proxy response; AWS turns that into a 502."""


def new_request_id() -> str:
    return str(uuid.uuid4())


def new_extended_request_id() -> str:
    """Like AWS's ``extendedRequestId`` (and ``x-amz-apigw-id``): 15 characters, then ``=``."""
    return "".join(secrets.choice(_EXTENDED_ID_ALPHABET) for _ in range(15)) + "="


def build_proxy_event(
    request: HttpRequest,
    *,
    request_id: str,
    extended_request_id: str,
    received_at: datetime,
    binary_media_types: Sequence[str] = DEFAULT_BINARY_MEDIA_TYPES,
) -> dict[str, Any]:
    """The event API Gateway sends a Lambda proxy integration behind ``ANY /{proxy+}``."""
    headers, multi_headers = _headers(request.headers)
    path = unquote(request.raw_path) or "/"
    at_root = path == "/"
    resource = ROOT_RESOURCE if at_root else PROXY_RESOURCE
    host = _header(request.headers, "host") or f"{API_ID}.execute-api.localhost"
    body, is_base64 = _event_body(
        request.body, _header(request.headers, "content-type"), binary_media_types
    )
    query, multi_query = _query(request.query_string)
    return {
        "resource": resource,
        "path": path,
        "httpMethod": request.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": None if at_root else {"proxy": path[1:]},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "k2root" if at_root else "k2prox",
            "resourcePath": resource,
            "httpMethod": request.method,
            "extendedRequestId": extended_request_id,
            "requestTime": received_at.astimezone(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "path": f"/{request.stage}{path}",
            "accountId": ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": request.stage,
            "domainPrefix": _domain_prefix(host),
            "requestTimeEpoch": int(received_at.timestamp() * 1000),
            "requestId": request_id,
            "identity": _identity(request),
            "domainName": host,
            "apiId": API_ID,
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def _headers(
    pairs: Sequence[tuple[str, str]],
) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    """``headers`` keeps the last value of each name, ``multiValueHeaders`` all of them; names
    keep the spelling they first arrived in."""
    spelling: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        key = spelling.setdefault(name.lower(), name)
        multi.setdefault(key, []).append(value)
    if not multi:
        return None, None
    return {name: values[-1] for name, values in multi.items()}, multi


def _header(pairs: Sequence[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in pairs if key.lower() == name]
    return values[-1] if values else None


def _query(query_string: str) -> tuple[dict[str, str] | None, dict[str, list[str]] | None]:
    multi: dict[str, list[str]] = {}
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        multi.setdefault(name, []).append(value)
    if not multi:
        return None, None
    return {name: values[-1] for name, values in multi.items()}, multi


def _event_body(
    body: bytes, content_type: str | None, binary_media_types: Sequence[str]
) -> tuple[str | None, bool]:
    if not body:
        return None, False
    if content_type is not None and is_binary_media_type(content_type, binary_media_types):
        return base64.b64encode(body).decode("ascii"), True
    try:
        return body.decode("utf-8"), False
    except UnicodeDecodeError:
        return base64.b64encode(body).decode("ascii"), True


def is_binary_media_type(content_type: str, binary_media_types: Sequence[str]) -> bool:
    """Whether ``content_type`` matches one of ``binary_media_types`` (``type/*`` wildcards)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    major = media_type.split("/", 1)[0]
    return any(
        candidate == media_type or candidate == f"{major}/*" for candidate in binary_media_types
    )


def _domain_prefix(host: str) -> str:
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    try:
        ipaddress.ip_address(hostname.strip("[]"))
    except ValueError:
        return hostname.split(".", 1)[0]
    return API_ID  # an address has no label to take; AWS's domains always start with the API id


def _identity(request: HttpRequest) -> dict[str, str | None]:
    identity: dict[str, str | None] = dict.fromkeys(_IDENTITY_KEYS)
    identity.update(
        sourceIp=request.source_ip,
        userAgent=_header(request.headers, "user-agent"),
        apiKey=request.api_key,
        apiKeyId=request.api_key_id,
    )
    return identity


# --- the answer --------------------------------------------------------------------------------


def to_http_response(result: object) -> HttpResponse:
    """Read a Lambda proxy response as API Gateway does; raises MalformedProxyResponseError."""
    if not isinstance(result, Mapping):
        raise MalformedProxyResponseError(
            f"the handler returned {type(result).__name__}, not a dict"
        )
    unknown = set(result) - _RESPONSE_KEYS
    if unknown:
        raise MalformedProxyResponseError(f"unknown response fields: {', '.join(sorted(unknown))}")
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedProxyResponseError(f"statusCode must be an HTTP status, got {status!r}")
    headers = _response_headers(result.get("headers"), result.get("multiValueHeaders"))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", "application/json"))  # API Gateway's default
    return HttpResponse(status, headers, _response_body(result))


def _response_headers(single: object, multi: object) -> list[tuple[str, str]]:
    """Both header maps merged; for a name in both, only ``multiValueHeaders`` counts."""
    if single is not None and not isinstance(single, Mapping):
        raise MalformedProxyResponseError("headers must be an object")
    if multi is not None and not isinstance(multi, Mapping):
        raise MalformedProxyResponseError("multiValueHeaders must be an object")
    merged: list[tuple[str, str]] = []
    for name, values in (multi or {}).items():
        if not isinstance(values, list):
            raise MalformedProxyResponseError(f"multiValueHeaders[{name!r}] must be a list")
        merged.extend((str(name), _header_value(value)) for value in values)
    in_multi = {str(name).lower() for name in (multi or {})}
    for name, value in (single or {}).items():
        if str(name).lower() not in in_multi:
            merged.append((str(name), _header_value(value)))
    return merged


def _header_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or isinstance(value, str | int | float):
        return "" if value is None else str(value)
    raise MalformedProxyResponseError(
        f"a header value must be a string, got {type(value).__name__}"
    )


def _response_body(result: Mapping[str, Any]) -> bytes:
    body = result.get("body")
    is_base64 = result.get("isBase64Encoded", False)
    if not isinstance(is_base64, bool):
        raise MalformedProxyResponseError("isBase64Encoded must be a boolean")
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedProxyResponseError(f"body must be a string, got {type(body).__name__}")
    if not is_base64:
        return body.encode("utf-8")
    try:
        return base64.b64decode(body, validate=True)
    except binascii.Error as error:
        raise MalformedProxyResponseError(f"body is not valid base64: {error}") from None


def internal_server_error() -> HttpResponse:
    """What API Gateway answers when the integration fails or answers nonsense."""
    return json_response(502, {"message": "Internal server error"})


def json_response(
    status: int, payload: object, headers: Sequence[tuple[str, str]] = ()
) -> HttpResponse:
    body = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return HttpResponse(status, [("Content-Type", "application/json"), *headers], body)
