"""The local API Gateway: a REST API (v1) with ``ANY /{proxy+}`` in front of the API's Lambda.

It does what AWS's gateway does for K2's API before and after the Lambda: API keys and their
usage plans (403, 429), the 10 MB payload limit (413), the proxy event and the reading of the
proxy response (502 when it is malformed or the function fails), the 29 s integration timeout
(504). The Lambda handler runs in this process, loaded from its file the first time a request
needs it, as Lambda loads ``handler.handler``. Bound to 127.0.0.1 only. In front of the local
cloud it also publishes the ``AWS/ApiGateway`` and ``AWS/Lambda`` metrics AWS would
(``k2.local.gateway_metrics``).

    python -m k2.local.api_gateway --port 4580 --handler functions/api/handler.py:handler \\
        --usage-plans .k2/api-gateway/usage-plans.json
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from k2.api.gateway_contract import API_KEY_HEADER, GATEWAY_ERROR_BY_TYPE, KEYLESS_ROUTES
from k2.local.api_gateway_events import (
    ACCOUNT_ID,
    HttpRequest,
    HttpResponse,
    MalformedProxyResponseError,
    build_proxy_event,
    internal_server_error,
    json_response,
    new_extended_request_id,
    new_request_id,
    to_http_response,
)
from k2.local.gateway_metrics import GatewayMetrics, local_gateway_metrics
from k2.local.usage_plans import ApiKey, Outcome, UsagePlans, load_usage_plans
from k2.settings import K2Settings

MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
"""API Gateway's payload limit; a larger request is refused before its body is read."""
INTEGRATION_TIMEOUT_S = 29.0
"""API Gateway's default (and, for REST APIs, usual maximum) integration timeout."""
FUNCTION_NAME = "k2-api"
FUNCTION_MEMORY_MB = 1024
_DRAIN_LIMIT_BYTES = 1024 * 1024
_HOP_BY_HOP = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})

log = logging.getLogger("k2.local.api_gateway")

LambdaHandler = Callable[[dict[str, Any], "LambdaContext"], object]


class LambdaContext:
    """The attributes and method of the context object Lambda's Python runtime passes."""

    def __init__(
        self,
        function_name: str,
        log_stream_name: str,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        region = os.environ.get("AWS_REGION", "us-east-1")
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = FUNCTION_MEMORY_MB
        self.aws_request_id = str(uuid.uuid4())  # Lambda's own id, not API Gateway's requestId
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = log_stream_name
        self.identity = None
        self.client_context = None
        self._clock = clock
        self._deadline = clock() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


class IntegrationTimeoutError(TimeoutError):
    """The function did not answer within the integration timeout (API Gateway answers 504)."""


class LambdaFunction:
    """The API's handler, imported from its file on first use like a Lambda cold start.

    A failed import is tried again by the next request, as Lambda re-runs a failed init, so the
    gateway can start before the handler file exists.
    """

    def __init__(
        self,
        path: Path,
        function: str,
        name: str = FUNCTION_NAME,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.path = path
        self.function = function
        self.name = name
        self.metrics = metrics
        self.log_stream_name = (
            f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"  # one per instance
        )
        self._handler: LambdaHandler | None = None
        self._lock = threading.Lock()

    def handler(self) -> LambdaHandler:
        with self._lock:
            if self._handler is None:
                self._handler = self._import()
            return self._handler

    def _import(self) -> LambdaHandler:
        started = time.monotonic()
        module_name = self.path.stem
        spec = importlib.util.spec_from_file_location(module_name, self.path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load a module from {self.path}")
        task_root = str(self.path.parent)  # Lambda's /var/task: the handler's siblings import
        if task_root not in sys.path:
            sys.path.insert(0, task_root)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        handler = getattr(module, self.function, None)
        if not callable(handler):
            raise ImportError(f"{self.path} has no function {self.function!r}")
        log.info("loaded %s:%s in %.0f ms", self.path, self.function, _ms_since(started))
        return handler  # type: ignore[no-any-return]

    def invoke(self, event: dict[str, Any], timeout_s: float) -> object:
        """Run the handler on a thread of its own with an event loop of its own.

        Mangum runs the ASGI app with ``asyncio.get_event_loop()``, which in a thread other than
        the main one raises unless a loop was set for that thread; a loop per invocation also
        keeps concurrent requests from sharing one. The thread lets the gateway give up after
        the integration timeout, as AWS does (the function itself runs on, as it would there).
        """
        outcome: dict[str, Any] = {}

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            started = time.monotonic()
            try:
                handler = self.handler()  # the cold start is not part of Duration, as in AWS
                started = time.monotonic()
                context = LambdaContext(self.name, self.log_stream_name, timeout_s)
                outcome["result"] = handler(event, context)
            except BaseException as error:  # reported by the request's thread
                outcome["error"] = error
            finally:
                if self.metrics is not None:  # also when the gateway gave up waiting
                    self.metrics.record_invocation(_ms_since(started), "error" in outcome)
                try:
                    loop.run_until_complete(loop.shutdown_asyncgens())
                finally:
                    asyncio.set_event_loop(None)
                    loop.close()

        invocation = threading.Thread(target=run, name=f"lambda-{self.name}", daemon=True)
        invocation.start()
        invocation.join(timeout_s)
        if invocation.is_alive():
            raise IntegrationTimeoutError(f"no answer within {timeout_s:g}s")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]


@dataclass(frozen=True)
class Admission:
    """Whether the gateway lets a request through to the function, and under which key."""

    refusal: HttpResponse | None
    key: ApiKey | None = None


class ApiGateway:
    """What happens to one request between the client and the function, transport aside."""

    def __init__(
        self,
        plans: UsagePlans,
        function: LambdaFunction,
        stage: str = "local",
        integration_timeout_s: float = INTEGRATION_TIMEOUT_S,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.plans = plans
        self.function = function
        self.stage = stage
        self.integration_timeout_s = integration_timeout_s
        self.metrics = metrics

    def admit(self, method: str, path: str, api_key: str | None) -> Admission:
        if method == "OPTIONS" or (method, path) in KEYLESS_ROUTES:
            return Admission(None)
        key = self.plans.find_key(api_key)
        if key is None:
            message = f"Forbidden: a valid {API_KEY_HEADER} header is required"
            return Admission(contract_error("INVALID_API_KEY", message))
        decision = self.plans.admit(key)
        if decision.allowed:
            return Admission(None, key)
        retry_after = decision.retry_after_s or 1
        if decision.outcome is Outcome.THROTTLED:
            message = (
                f"Too many requests: the API key's rate limit is exceeded; retry in {retry_after}s"
            )
        else:
            message = f"Limit exceeded: the API key's quota is used up; retry in {retry_after}s"
        response_type = _REFUSALS[decision.outcome]
        return Admission(
            contract_error(response_type, message, [("Retry-After", str(retry_after))]), key
        )

    def invoke(
        self, request: HttpRequest, request_id: str, extended_request_id: str
    ) -> HttpResponse:
        event = build_proxy_event(
            request,
            request_id=request_id,
            extended_request_id=extended_request_id,
            received_at=datetime.now(UTC),
        )
        try:
            result = self.function.invoke(event, self.integration_timeout_s)
        except IntegrationTimeoutError:
            log.error(
                "request %s: integration timed out after %gs",
                request_id,
                self.integration_timeout_s,
            )
            return json_response(504, {"message": "Endpoint request timed out"})
        except BaseException:
            log.exception(
                "request %s: the function failed (%s:%s)",
                request_id,
                self.function.path,
                self.function.function,
            )
            return internal_server_error()
        try:
            return to_http_response(result)
        except MalformedProxyResponseError as error:
            log.error("request %s: malformed Lambda proxy response: %s", request_id, error)
            return internal_server_error()


def gateway_error(
    status: int, code: str, message: str, headers: Sequence[tuple[str, str]] = ()
) -> HttpResponse:
    """A gateway response customised to K2's error envelope."""
    return json_response(
        status, {"success": False, "error": {"code": code, "message": message}}, headers
    )


_REFUSALS = {Outcome.THROTTLED: "THROTTLED", Outcome.QUOTA_EXCEEDED: "QUOTA_EXCEEDED"}
"""The API Gateway response type of each usage-plan refusal."""


def contract_error(
    response_type: str, message: str, headers: Sequence[tuple[str, str]] = ()
) -> HttpResponse:
    """Gateway response ``response_type`` with the status and code the deployed API uses
    (``k2.api.gateway_contract``), and a message that may say more (the computed retry-after)."""
    error = GATEWAY_ERROR_BY_TYPE[response_type]
    return gateway_error(error.status, error.code, message, headers)


class ApiGatewayServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, gateway: ApiGateway) -> None:
        super().__init__(("127.0.0.1", port), _GatewayRequestHandler)
        self.gateway = gateway


class _GatewayRequestHandler(BaseHTTPRequestHandler):
    server: ApiGatewayServer
    protocol_version = "HTTP/1.1"
    server_version = "k2-local-apigateway"
    timeout = 60  # an idle keep-alive connection is closed after this
    _unread_body = False  # set when a refused body is left unread: the connection then closes

    def version_string(self) -> str:
        return self.server_version

    def handle_expect_100(self) -> bool:
        if self._declared_length() > MAX_PAYLOAD_BYTES:
            return True  # no 100 Continue: the 413 follows without the body being sent
        return super().handle_expect_100()

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_OPTIONS(self) -> None:
        self._serve()

    def __getattr__(self, name: str) -> Callable[[], None]:
        """Any other method (TRACE, CONNECT, QUERY, ...): API Gateway's ANY covers only the seven
        above, and it answers the rest with its MISSING_AUTHENTICATION_TOKEN response (403)."""
        if name.startswith("do_"):
            return self._refuse_method
        raise AttributeError(name)

    def _refuse_method(self) -> None:
        started = time.monotonic()
        request_id, extended_id = new_request_id(), new_extended_request_id()
        trace_id = self.headers.get("X-Amzn-Trace-Id") or _new_trace_id()
        message = f"Missing Authentication Token: {self.command} is not a method of this API"
        response = contract_error("MISSING_AUTHENTICATION_TOKEN", message)
        self.close_connection = True  # its body, if any, is left unread
        self._write(response, request_id, extended_id, trace_id)
        self._count(response.status, started)
        log.info("%s %s 403 (method not supported) request=%s", self.command, self.path, request_id)

    def _count(self, status: int, started: float) -> None:
        metrics = self.server.gateway.metrics
        if metrics is not None:
            metrics.record_request(status, _ms_since(started))

    def _serve(self) -> None:
        started = time.monotonic()
        request_id, extended_id = new_request_id(), new_extended_request_id()
        path, _, query = self.path.partition("?")
        key: ApiKey | None = None
        trace_id = self.headers.get("X-Amzn-Trace-Id") or _new_trace_id()
        try:
            response, key = self._respond(path, query, request_id, extended_id, trace_id)
        except Exception:
            log.exception("request %s: the gateway failed", request_id)
            response = internal_server_error()
            self.close_connection = True
        self._write(response, request_id, extended_id, trace_id)
        self._count(response.status, started)
        log.info(
            "%s %s %d %.1fms key=%s request=%s",
            self.command,
            path,
            response.status,
            _ms_since(started),
            key.id if key else "-",
            request_id,
        )

    def _respond(
        self, path: str, query: str, request_id: str, extended_id: str, trace_id: str
    ) -> tuple[HttpResponse, ApiKey | None]:
        if self._declared_length() > MAX_PAYLOAD_BYTES:
            self.close_connection = True
            self._unread_body = True
            message = f"Request too large: the limit is {MAX_PAYLOAD_BYTES // (1024 * 1024)} MB"
            return contract_error("REQUEST_TOO_LARGE", message), None
        body = self._read_body()
        if body is None:
            message = f"Request too large: the limit is {MAX_PAYLOAD_BYTES // (1024 * 1024)} MB"
            return contract_error("REQUEST_TOO_LARGE", message), None
        gateway = self.server.gateway
        admission = gateway.admit(self.command, path, self.headers.get(API_KEY_HEADER))
        if admission.refusal is not None:
            return admission.refusal, admission.key
        request = HttpRequest(
            method=self.command,
            raw_path=path,
            query_string=query,
            headers=self._forwarded_headers(trace_id),
            body=body,
            source_ip=self.client_address[0],
            api_key=admission.key.value if admission.key else None,
            api_key_id=admission.key.id if admission.key else None,
            stage=gateway.stage,
        )
        return gateway.invoke(request, request_id, extended_id), admission.key

    def _declared_length(self) -> int:
        try:
            return int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return 0

    def _read_body(self) -> bytes | None:
        """The body, or None if a chunked one outgrows the payload limit."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self._declared_length()
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024)
            chunk_size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if chunk_size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(chunks)
            size += chunk_size
            if size > MAX_PAYLOAD_BYTES:
                self.close_connection = True
                self._unread_body = True
                return None
            chunks.append(self.rfile.read(chunk_size))
            self.rfile.readline(1024)  # the CRLF after the chunk

    def _forwarded_headers(self, trace_id: str) -> list[tuple[str, str]]:
        """The client's headers plus those API Gateway adds on the way to the integration."""
        client_ip = self.client_address[0]
        forwarded_for = self.headers.get("X-Forwarded-For")
        replaced = {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-amzn-trace-id"}
        headers = [
            (name, value) for name, value in self.headers.items() if name.lower() not in replaced
        ]
        return [
            *headers,
            ("X-Amzn-Trace-Id", trace_id),
            ("X-Forwarded-For", f"{forwarded_for}, {client_ip}" if forwarded_for else client_ip),
            ("X-Forwarded-Port", str(self.server.server_address[1])),
            ("X-Forwarded-Proto", "http"),
        ]

    def _write(
        self, response: HttpResponse, request_id: str, extended_id: str, trace_id: str
    ) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("X-Amzn-RequestId", request_id)
        self.send_header("x-amz-apigw-id", extended_id)
        self.send_header("X-Amzn-Trace-Id", trace_id)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        self.wfile.flush()
        if self._unread_body:
            self._close_gently()

    def _close_gently(self) -> None:
        """Closing a socket with unread data resets it, and a client still sending would lose
        the response; so stop writing, then discard what still arrives for a moment."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            discarded = 0
            while discarded < _DRAIN_LIMIT_BYTES:
                data = self.connection.recv(65536)
                if not data:
                    break
                discarded += len(data)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: ``_serve`` logs one line per request itself."""


def _new_trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def _ms_since(started: float) -> float:
    return (time.monotonic() - started) * 1000


def _handler_reference(text: str) -> tuple[Path, str]:
    path, separator, function = text.rpartition(":")
    if not separator or not path or not function:
        raise argparse.ArgumentTypeError(f"expected PATH:FUNCTION, got {text!r}")
    return Path(path).resolve(), function


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--handler", type=_handler_reference, required=True, help="PATH:FUNCTION of the Lambda"
    )
    parser.add_argument("--usage-plans", type=Path, required=True, help="API keys and plans (JSON)")
    parser.add_argument("--stage", default="local")
    parser.add_argument("--integration-timeout", type=float, default=INTEGRATION_TIMEOUT_S)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    plans = UsagePlans(load_usage_plans(args.usage_plans))
    handler_path, function = args.handler
    metrics = local_gateway_metrics(K2Settings())
    gateway = ApiGateway(
        plans,
        LambdaFunction(handler_path, function, metrics=metrics),
        args.stage,
        args.integration_timeout,
        metrics,
    )
    server = ApiGatewayServer(args.port, gateway)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    if not handler_path.exists():
        log.warning("%s does not exist (yet): requests answer 502 until it does", handler_path)
    log.info(
        "API Gateway (local) on http://127.0.0.1:%d, stage %s, %d API keys, handler %s:%s",
        args.port,
        args.stage,
        len(plans.keys),
        handler_path,
        function,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if metrics is not None:
            metrics.close()


if __name__ == "__main__":
    main()
