"""The proxy event the local gateway builds has AWS's shape, and the proxy response is read as AWS
reads it; both checked against a canonical REST proxy event, powertools' model and Mangum."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel
from fastapi import FastAPI, Request, Response
from hypothesis import given
from hypothesis import strategies as st
from mangum import Mangum

from k2.local.api_gateway import LambdaContext
from k2.local.api_gateway_events import (
    HttpRequest,
    MalformedProxyResponseError,
    build_proxy_event,
    internal_server_error,
    is_binary_media_type,
    to_http_response,
)

pytestmark = pytest.mark.unit

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "apigateway" / "rest_proxy_event.json"
RECEIVED_AT = datetime(2026, 11, 26, 8, 15, 42, 318000, tzinfo=UTC)


def _context() -> Any:
    return LambdaContext("k2-api", "2026/11/26/[$LATEST]0123456789abcdef", timeout_s=29.0)


def _canonical() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(FIXTURE.read_text())
    return event


def _request(**overrides: Any) -> HttpRequest:
    fields: dict[str, Any] = {
        "method": "GET",
        "raw_path": "/v1/trades",
        "query_string": "exchange=binance&symbol=BTCUSDT&symbol=ETHUSDT",
        "headers": [
            ("Host", "127.0.0.1:4580"),
            ("User-Agent", "pytest"),
            ("X-API-Key", "k" * 40),
            ("Accept", "application/json"),
        ],
        "body": b"",
        "source_ip": "127.0.0.1",
        "api_key": "k" * 40,
        "api_key_id": "abcdefghij",
    }
    return HttpRequest(**{**fields, **overrides})


def _event(request: HttpRequest | None = None) -> dict[str, Any]:
    return build_proxy_event(
        request or _request(),
        request_id="c0ffee00-0000-4000-8000-000000000001",
        extended_request_id="AbCdEfGhIjKlMnO=",
        received_at=RECEIVED_AT,
    )


# --- the shape ---------------------------------------------------------------------------------


def test_built_events_have_exactly_the_canonical_keys() -> None:
    canonical, built = _canonical(), _event()
    assert set(built) == set(canonical)
    assert set(built["requestContext"]) == set(canonical["requestContext"])
    assert set(built["requestContext"]["identity"]) == set(canonical["requestContext"]["identity"])


@pytest.mark.parametrize("source", ["fixture", "builder"])
def test_events_parse_as_powertools_rest_proxy_events(source: str) -> None:
    event = _canonical() if source == "fixture" else _event()
    parsed = APIGatewayProxyEventModel.model_validate(event)
    assert parsed.requestContext.identity.sourceIp is not None
    assert parsed.resource == "/{proxy+}"


def _echo_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def echo(path: str, request: Request) -> Response:
        body = await request.body()
        payload = {
            "path": request.url.path,
            "query": sorted(request.query_params.multi_items()),
            "api_key": request.headers.get("x-api-key"),
            "body": base64.b64encode(body).decode(),
            "scheme": request.url.scheme,
        }
        return Response(
            json.dumps(payload),
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    return app


def test_the_canonical_event_drives_a_mangum_handler() -> None:
    response = Mangum(_echo_app(), lifespan="off")(_canonical(), _context())
    answer = to_http_response(response)
    assert answer.status == 200
    seen = json.loads(answer.body)
    assert seen["path"] == "/v1/trades"
    assert seen["query"] == [
        ["exchange", "binance"],
        ["limit", "100"],
        ["symbol", "BTCUSDT"],
        ["symbol", "ETHUSDT"],
    ]
    assert seen["api_key"] == _canonical()["headers"]["X-API-Key"]
    assert seen["scheme"] == "https"


def test_a_built_binary_event_reaches_a_mangum_app_byte_for_byte() -> None:
    payload = bytes(range(256))
    request = _request(
        method="POST",
        body=payload,
        headers=[("Host", "127.0.0.1:4580"), ("Content-Type", "application/octet-stream")],
    )
    answer = to_http_response(Mangum(_echo_app(), lifespan="off")(_event(request), _context()))
    assert base64.b64decode(json.loads(answer.body)["body"]) == payload
    assert ("cache-control", "no-store") in answer.headers


# --- the content -------------------------------------------------------------------------------


def test_method_path_stage_and_request_context() -> None:
    event = _event(_request(raw_path="/v1/ohlcv/1m%20bars", stage="local"))
    assert event["httpMethod"] == "GET"
    assert event["path"] == "/v1/ohlcv/1m bars"
    assert event["pathParameters"] == {"proxy": "v1/ohlcv/1m bars"}
    context = event["requestContext"]
    assert context["path"] == "/local/v1/ohlcv/1m bars"
    assert context["stage"] == "local"
    assert context["resourcePath"] == "/{proxy+}"
    assert context["requestTime"] == "26/Nov/2026:08:15:42 +0000"
    assert context["requestTimeEpoch"] == 1795680942318
    assert context["requestId"] == "c0ffee00-0000-4000-8000-000000000001"
    assert context["extendedRequestId"] == "AbCdEfGhIjKlMnO="
    assert context["domainName"] == "127.0.0.1:4580"
    assert context["identity"]["apiKey"] == "k" * 40
    assert context["identity"]["apiKeyId"] == "abcdefghij"
    assert context["identity"]["userAgent"] == "pytest"
    assert context["identity"]["caller"] is None
    assert event["stageVariables"] is None


def test_the_root_is_its_own_resource_without_path_parameters() -> None:
    event = _event(_request(raw_path="/"))
    assert event["resource"] == "/"
    assert event["pathParameters"] is None


def test_query_and_headers_keep_every_value_and_the_last_as_the_single_one() -> None:
    headers = [("Host", "h"), ("X-Tag", "one"), ("x-tag", "two"), ("Accept", "*/*")]
    event = _event(_request(query_string="a=1&a=2&b=&c=x%20y", headers=headers))
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": [""], "c": ["x y"]}
    assert event["queryStringParameters"] == {"a": "2", "b": "", "c": "x y"}
    assert event["multiValueHeaders"]["X-Tag"] == ["one", "two"]
    assert event["headers"]["X-Tag"] == "two"


def test_no_query_and_no_body_are_null() -> None:
    event = _event(_request(query_string=""))
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False


@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=8), st.text(max_size=8)), min_size=1, max_size=10
    )
)
def test_query_parameters_round_trip(pairs: list[tuple[str, str]]) -> None:
    event = _event(_request(query_string=urlencode(pairs)))
    expected: dict[str, list[str]] = {}
    for name, value in pairs:
        expected.setdefault(name, []).append(value)
    assert event["multiValueQueryStringParameters"] == expected


@pytest.mark.parametrize(
    ("content_type", "body", "is_base64"),
    [
        ("application/json", b'{"symbol": "BTCUSDT"}', False),
        ("text/plain; charset=utf-8", "prix €".encode(), False),
        ("text/plain", b"\xff\xfe not utf-8", True),
        (None, b"\x80\x81", True),
        ("application/octet-stream", b"valid text, binary type", True),
        ("image/png", b"\x89PNG", True),
    ],
)
def test_bodies_are_text_or_base64(content_type: str | None, body: bytes, is_base64: bool) -> None:
    headers = [("Host", "h")] + ([("Content-Type", content_type)] if content_type else [])
    event = _event(_request(method="POST", headers=headers, body=body))
    assert event["isBase64Encoded"] is is_base64
    decoded = base64.b64decode(event["body"]) if is_base64 else event["body"].encode()
    assert decoded == body


def test_binary_media_types_match_wildcards() -> None:
    assert is_binary_media_type("IMAGE/PNG", ["image/*"])
    assert not is_binary_media_type("application/json", ["image/*", "application/octet-stream"])


# --- the response ------------------------------------------------------------------------------


def test_a_proxy_response_becomes_status_headers_and_body() -> None:
    answer = to_http_response(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/plain", "Set-Cookie": "ignored=1", "X-One": "1"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": "created",
            "isBase64Encoded": False,
        }
    )
    assert answer.status == 201
    assert answer.body == b"created"
    assert [value for name, value in answer.headers if name == "Set-Cookie"] == ["a=1", "b=2"]
    assert ("X-One", "1") in answer.headers


def test_base64_bodies_are_decoded_and_json_is_the_default_type() -> None:
    answer = to_http_response(
        {"statusCode": 200, "body": base64.b64encode(b"\x00\x01").decode(), "isBase64Encoded": True}
    )
    assert answer.body == b"\x00\x01"
    assert ("Content-Type", "application/json") in answer.headers
    assert to_http_response({"statusCode": 204}).body == b""


@pytest.mark.parametrize(
    "result",
    [
        None,
        "a string",
        {"body": "no status"},
        {"statusCode": "two hundred"},
        {"statusCode": 99},
        {"statusCode": True},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "headers": ["X", "1"]},
        {"statusCode": 200, "multiValueHeaders": {"X": "1"}},
        {"statusCode": 200, "body": "!!", "isBase64Encoded": True},
        {"statusCode": 200, "cookies": ["a=1"]},
    ],
)
def test_a_malformed_proxy_response_is_refused(result: object) -> None:
    with pytest.raises(MalformedProxyResponseError):
        to_http_response(result)


def test_the_refusal_is_aws_s_502() -> None:
    answer = internal_server_error()
    assert answer.status == 502
    assert json.loads(answer.body) == {"message": "Internal server error"}
