"""The local API Gateway as a client sees it: a real server process in front of real Lambda-style
handler files, with API keys, usage plans, the payload limit and AWS's failure answers."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from k2.local.cloud import API_GATEWAY, LocalCloud
from k2.local.processes import port_is_listening, wait_until
from tests.local.gateway_process import free_port, start_gateway_process, stop_gateway_process

HANDLERS = '''
"""Lambda-style handlers for the gateway tests."""
import json
import time


def echo(event, context):
    seen = {
        "event": event,
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
        },
    }
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps(seen)}


def boom(event, context):
    raise RuntimeError("the handler failed on purpose")


def slow(event, context):
    time.sleep(float((event["queryStringParameters"] or {}).get("seconds", "0.5")))
    return echo(event, context)


def malformed(event, context):
    return {"statusCode": 200, "body": {"not": "a string"}}
'''

ASGI_HANDLER = '''
"""A FastAPI app behind Mangum, as functions/api/handler.py is."""
import asyncio

from fastapi import FastAPI
from mangum import Mangum

app = FastAPI()


@app.get("/work")
async def work(ms: int = 200) -> dict:
    await asyncio.sleep(ms / 1000)
    return {"ok": True, "slept_ms": ms}


handler = Mangum(app, lifespan="off")
'''

OPEN_KEY = "open-" + "o" * 40
TIGHT_KEY = "tight-" + "t" * 40
QUOTA_KEY = "quota-" + "q" * 40
PLANS = {
    "keys": [
        {"id": "openkey001", "name": "open", "value": OPEN_KEY, "plan": "generous"},
        {"id": "tightkey01", "name": "tight", "value": TIGHT_KEY, "plan": "tight"},
        {"id": "quotakey01", "name": "quota", "value": QUOTA_KEY, "plan": "small-quota"},
    ],
    "plans": {
        "generous": {"rate_limit": 1000, "burst_limit": 1000, "quota": None},
        "tight": {"rate_limit": 0.2, "burst_limit": 3, "quota": None},
        "small-quota": {
            "rate_limit": 1000,
            "burst_limit": 1000,
            "quota": {"limit": 2, "period": "DAY"},
        },
    },
}


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Gateway:
    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
    ) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.putrequest(method, path)
            for name, value in headers or []:
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return Answer(response.status, response.headers, response.read())
        finally:
            connection.close()

    def keyed(self, method: str, path: str, key: str = OPEN_KEY, **kwargs: Any) -> Answer:
        headers = [("X-API-Key", key), *kwargs.pop("headers", [])]
        return self.request(method, path, headers, **kwargs)


@pytest.fixture(scope="module")
def handler_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("lambda")
    (folder / "handlers.py").write_text(HANDLERS)
    (folder / "asgi_handler.py").write_text(ASGI_HANDLER)
    (folder / "usage-plans.json").write_text(json.dumps(PLANS))
    return folder


@pytest.fixture(scope="module")
def start_gateway(handler_dir: Path) -> Iterator[Any]:
    started: list[Gateway] = []

    def start(handler: str, *extra: str) -> Gateway:
        port = free_port()
        log = handler_dir / f"gateway-{port}.log"
        process = start_gateway_process(
            port, handler, handler_dir / "usage-plans.json", log, *extra
        )
        gateway = Gateway(port, log, process)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        stop_gateway_process(gateway.process)


@pytest.fixture(scope="module")
def echo(start_gateway: Any, handler_dir: Path) -> Gateway:
    gateway: Gateway = start_gateway(f"{handler_dir / 'handlers.py'}:echo")
    return gateway


def _event(answer: Answer) -> dict[str, Any]:
    assert answer.status == 200, answer.body
    event: dict[str, Any] = answer.json()["event"]
    return event


# --- keys --------------------------------------------------------------------------------------

FORBIDDEN = {
    "success": False,
    "error": {"code": "forbidden", "message": "Forbidden: a valid X-API-Key header is required"},
}


@pytest.mark.unit
@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("X-API-Key", "not-a-key-" + "x" * 30)],
        [("Authorization", OPEN_KEY)],
        [("Authorization", f"Bearer {OPEN_KEY}")],
        [("X-API-Key", "")],
    ],
    ids=["missing", "wrong", "in-authorization", "as-bearer", "empty"],
)
def test_a_request_without_a_valid_key_is_forbidden(
    echo: Gateway, headers: list[tuple[str, str]]
) -> None:
    answer = echo.request("GET", "/v1/trades", headers)
    assert answer.status == 403
    assert answer.json() == FORBIDDEN
    assert answer.headers["X-Amzn-RequestId"]


@pytest.mark.unit
def test_the_key_header_name_is_case_insensitive(echo: Gateway) -> None:
    event = _event(echo.request("GET", "/v1/trades", [("x-api-key", OPEN_KEY)]))
    assert event["requestContext"]["identity"]["apiKeyId"] == "openkey001"


@pytest.mark.unit
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/health"), ("GET", "/docs"), ("GET", "/openapi.json"), ("OPTIONS", "/v1/trades")],
)
def test_health_docs_and_preflight_need_no_key(echo: Gateway, method: str, path: str) -> None:
    event = _event(echo.request(method, path, [("Origin", "http://localhost:3000")]))
    assert event["path"] == path
    assert event["requestContext"]["identity"]["apiKey"] is None


@pytest.mark.unit
def test_only_get_health_is_keyless(echo: Gateway) -> None:
    assert echo.request("POST", "/health", body=b"{}").status == 403


@pytest.mark.unit
@pytest.mark.parametrize("method", ["TRACE", "QUERY", "CONNECT", "BREW"])
def test_methods_api_gateway_does_not_serve_get_its_403(echo: Gateway, method: str) -> None:
    answer = echo.keyed(method, "/v1/trades")
    assert answer.status == 403
    assert answer.json()["error"]["code"] == "missing_authentication_token"
    assert answer.headers["X-Amzn-RequestId"]


# --- the event the function receives -----------------------------------------------------------


@pytest.mark.unit
def test_the_function_gets_method_path_query_headers_and_identity(echo: Gateway) -> None:
    answer = echo.keyed(
        "GET",
        "/v1/trades?symbol=BTCUSDT&symbol=ETHUSDT&limit=5&empty=",
        headers=[("X-Tag", "one"), ("X-Tag", "two"), ("User-Agent", "k2-tests")],
    )
    event = _event(answer)
    assert event["httpMethod"] == "GET"
    assert event["resource"] == "/{proxy+}"
    assert event["path"] == "/v1/trades"
    assert event["pathParameters"] == {"proxy": "v1/trades"}
    assert event["multiValueQueryStringParameters"] == {
        "symbol": ["BTCUSDT", "ETHUSDT"],
        "limit": ["5"],
        "empty": [""],
    }
    assert event["queryStringParameters"]["symbol"] == "ETHUSDT"
    assert event["multiValueHeaders"]["X-Tag"] == ["one", "two"]
    assert event["headers"]["X-Tag"] == "two"
    assert event["headers"]["X-API-Key"] == OPEN_KEY
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    context = event["requestContext"]
    assert context["stage"] == "local"
    assert context["path"] == "/local/v1/trades"
    assert context["identity"]["apiKey"] == OPEN_KEY
    assert context["identity"]["apiKeyId"] == "openkey001"
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "k2-tests"
    assert answer.headers["X-Amzn-RequestId"] == context["requestId"]
    assert answer.headers["x-amz-apigw-id"] == context["extendedRequestId"]
    assert event["body"] is None


@pytest.mark.unit
def test_the_function_gets_a_lambda_context(echo: Gateway) -> None:
    context = echo.keyed("GET", "/v1/trades").json()["context"]
    assert context["function_name"] == "k2-api"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"].startswith("arn:aws:lambda:")
    assert context["invoked_function_arn"].endswith(":function:k2-api")
    assert context["memory_limit_in_mb"] > 0
    assert context["log_group_name"] == "/aws/lambda/k2-api"
    assert "[$LATEST]" in context["log_stream_name"]
    assert len(context["aws_request_id"]) == 36
    assert 25_000 < context["remaining_ms"] <= 29_000


@pytest.mark.unit
def test_a_text_body_arrives_as_text(echo: Gateway) -> None:
    body = json.dumps({"symbol": "BTCUSDT", "note": "prix €"}).encode()
    event = _event(
        echo.keyed("POST", "/v1/query", headers=[("Content-Type", "application/json")], body=body)
    )
    assert event["isBase64Encoded"] is False
    assert event["body"].encode() == body


@pytest.mark.unit
@pytest.mark.parametrize("content_type", ["application/octet-stream", "text/plain"])
def test_a_binary_body_arrives_base64_encoded(echo: Gateway, content_type: str) -> None:
    body = bytes(range(256)) * 4  # not UTF-8 either
    event = _event(
        echo.keyed("PUT", "/v1/blob", headers=[("Content-Type", content_type)], body=body)
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


@pytest.mark.unit
def test_a_chunked_body_arrives_whole(echo: Gateway) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", echo.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/v1/query",
            body=iter([b'{"a": ', b"1}"]),
            headers={"X-API-Key": OPEN_KEY, "Content-Type": "application/json"},
            encode_chunked=True,
        )
        event = json.loads(connection.getresponse().read())["event"]
    finally:
        connection.close()
    assert event["body"] == '{"a": 1}'


@pytest.mark.unit
def test_one_log_line_per_request(echo: Gateway) -> None:
    answer = echo.keyed("GET", "/v1/logged")
    request_id = answer.headers["X-Amzn-RequestId"]
    assert wait_until(lambda: request_id in echo.log.read_text(), 10)
    [line] = [line for line in echo.log.read_text().splitlines() if request_id in line]
    assert "GET /v1/logged 200" in line
    assert "key=openkey001" in line
    assert "ms" in line


# --- usage plans -------------------------------------------------------------------------------


@pytest.mark.unit
def test_past_the_burst_a_key_is_throttled_with_retry_after(echo: Gateway) -> None:
    answers = [echo.keyed("GET", "/v1/trades", key=TIGHT_KEY) for _ in range(4)]
    assert [answer.status for answer in answers] == [200, 200, 200, 429]
    throttled = answers[-1]
    assert throttled.json()["success"] is False
    assert throttled.json()["error"]["code"] == "throttled"
    assert 1 <= int(throttled.headers["Retry-After"]) <= 5  # a token every 5 s
    assert echo.keyed("GET", "/v1/trades").status == 200  # another key is not affected


@pytest.mark.unit
def test_past_the_quota_a_key_is_refused_until_the_period_ends(echo: Gateway) -> None:
    answers = [echo.keyed("GET", "/v1/trades", key=QUOTA_KEY) for _ in range(3)]
    assert [answer.status for answer in answers] == [200, 200, 429]
    exceeded = answers[-1]
    assert exceeded.json()["error"]["code"] == "quota_exceeded"
    assert 1 <= int(exceeded.headers["Retry-After"]) <= 86_400


# --- the payload limit -------------------------------------------------------------------------


@pytest.mark.unit
def test_an_oversized_body_is_refused_without_being_read(echo: Gateway) -> None:
    with socket.create_connection(("127.0.0.1", echo.port), timeout=10) as client:
        client.sendall(
            b"POST /v1/query HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"X-API-Key: {OPEN_KEY}\r\nContent-Length: {11 * 1024 * 1024}\r\n\r\n".encode()
            + b"x" * 65536  # and never the rest: the answer must come anyway
        )
        received = b""
        while chunk := client.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413")
    assert json.loads(body)["error"]["code"] == "request_too_large"


# --- failures ----------------------------------------------------------------------------------


@pytest.mark.unit
def test_a_failing_function_is_a_502_with_the_traceback_in_the_log(
    start_gateway: Any, handler_dir: Path
) -> None:
    gateway: Gateway = start_gateway(f"{handler_dir / 'handlers.py'}:boom")
    answer = gateway.keyed("GET", "/v1/trades")
    assert answer.status == 502
    assert answer.json() == {"message": "Internal server error"}
    assert wait_until(lambda: "the handler failed on purpose" in gateway.log.read_text(), 10)
    assert "Traceback" in gateway.log.read_text()


@pytest.mark.unit
def test_a_malformed_answer_is_a_502(start_gateway: Any, handler_dir: Path) -> None:
    gateway: Gateway = start_gateway(f"{handler_dir / 'handlers.py'}:malformed")
    answer = gateway.keyed("GET", "/v1/trades")
    assert answer.status == 502
    assert answer.json() == {"message": "Internal server error"}


@pytest.mark.unit
def test_a_handler_that_cannot_be_imported_is_a_502(start_gateway: Any, tmp_path: Path) -> None:
    gateway: Gateway = start_gateway(f"{tmp_path / 'not_there.py'}:handler")
    assert gateway.keyed("GET", "/v1/trades").status == 502
    assert gateway.request("GET", "/health").status == 502  # keyless, and still the 502
    (tmp_path / "not_there.py").write_text(HANDLERS.replace("def echo", "def handler"))
    assert gateway.request("GET", "/health").status == 200  # Lambda retries a failed init


@pytest.mark.unit
def test_a_function_slower_than_the_integration_timeout_is_a_504(
    start_gateway: Any, handler_dir: Path
) -> None:
    gateway: Gateway = start_gateway(
        f"{handler_dir / 'handlers.py'}:slow", "--integration-timeout=1"
    )
    started = time.monotonic()
    answer = gateway.keyed("GET", "/v1/trades?seconds=3")
    assert answer.status == 504
    assert answer.json() == {"message": "Endpoint request timed out"}
    assert time.monotonic() - started < 2.5


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.unit
def test_sixteen_concurrent_requests_are_all_answered(
    start_gateway: Any, handler_dir: Path
) -> None:
    gateway: Gateway = start_gateway(f"{handler_dir / 'handlers.py'}:slow")
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        answers = list(
            pool.map(lambda i: gateway.keyed("GET", f"/v1/trades?seconds=1&i={i}"), range(16))
        )
    assert [answer.status for answer in answers] == [200] * 16
    seen = {_event(answer)["queryStringParameters"]["i"] for answer in answers}
    assert seen == {str(i) for i in range(16)}
    assert time.monotonic() - started < 8  # in parallel, not one after another


@pytest.mark.unit
def test_a_mangum_app_serves_concurrent_requests_each_on_its_own_event_loop(
    start_gateway: Any, handler_dir: Path
) -> None:
    gateway: Gateway = start_gateway(f"{handler_dir / 'asgi_handler.py'}:handler")
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda _: gateway.keyed("GET", "/work?ms=300"), range(16)))
    assert [answer.status for answer in answers] == [200] * 16, [a.body for a in answers]
    assert all(answer.json() == {"ok": True, "slept_ms": 300} for answer in answers)
    assert "Traceback" not in gateway.log.read_text()


# --- in the local cloud ------------------------------------------------------------------------


@pytest.mark.integration
def test_up_starts_the_gateway_with_a_private_demo_key(local_cloud: LocalCloud) -> None:
    layout = local_cloud.layout
    assert port_is_listening(layout.settings.api_port)
    [status] = [status for status in local_cloud.status() if status.name == API_GATEWAY]
    assert status.healthy, status.detail
    assert "GET /health answers" in status.detail
    assert stat.S_IMODE(layout.usage_plans_file.stat().st_mode) == 0o600

    environment = {
        **os.environ,
        "K2_LOCAL_STATE_DIR": str(layout.root),
        **{
            f"K2_LOCAL_{name.upper()}": str(value)
            for name, value in layout.settings.model_dump().items()
            if name.endswith("_port")
        },
    }
    cli = [sys.executable, "-m", "k2.cli", "local"]
    printed = subprocess.run(
        [*cli, "api-key"], env=environment, capture_output=True, text=True, check=True
    )
    assert printed.stdout.strip() == layout.demo_api_key
    listed = subprocess.run(
        [*cli, "status"], env=environment, capture_output=True, text=True, check=False, timeout=120
    )
    assert "api-gateway" in listed.stdout

    pid = local_cloud.process(API_GATEWAY).pid()
    gateway_environment = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
        if "=" in item
    )
    assert gateway_environment["K2_API_KEYS"] == layout.demo_api_key
    assert gateway_environment["AWS_ENDPOINT_URL"] == layout.aws_endpoint_url

    gateway = Gateway(layout.settings.api_port, layout.log_file(API_GATEWAY), None)  # type: ignore[arg-type]
    assert gateway.request("GET", "/v1/trades").status == 403
    assert gateway.keyed("GET", "/v1/trades", key=layout.demo_api_key).status != 403
