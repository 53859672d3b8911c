"""A Lambda cold start in a fresh process: import ``functions/api/handler.py``, serve one query.

    python -m bench.api_bench_coldstart HANDLER_PATH REQUEST_JSON

Run by ``bench.api_latency`` with the environment the gateway gives the handler. Only the
standard library is imported before the timed import, so the import time is the handler's own
(its k2, FastAPI, pyiceberg, ... imports and building the app). The first query is one API
Gateway REST proxy event, shaped as ``tests/fixtures/apigateway/rest_proxy_event.json``. Prints
one line ``K2BENCH {json}`` (the handler's own log lines go to stdout too).
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EVENT_FIXTURE = REPO / "tests" / "fixtures" / "apigateway" / "rest_proxy_event.json"
MARKER = "K2BENCH "


class ContextStub:
    """The attributes Lambda's Python runtime gives the handler's context."""

    function_name = "k2-api"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:k2-api"
    memory_limit_in_mb = 1024
    log_group_name = "/aws/lambda/k2-api"
    log_stream_name = "bench/[$LATEST]coldstart"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def proxy_event(
    method: str, path: str, query: Mapping[str, str], api_key: str, body: str | None
) -> dict[str, Any]:
    """The canonical REST proxy event with this request's method, path, query, key and body."""
    event: dict[str, Any] = copy.deepcopy(json.loads(EVENT_FIXTURE.read_text()))
    headers = {**event["headers"], "X-API-Key": api_key}
    if body is not None:
        headers["Content-Type"] = "application/json"
    event.update(
        path=path,
        httpMethod=method,
        headers=headers,
        multiValueHeaders={name: [value] for name, value in headers.items()},
        queryStringParameters=dict(query) or None,
        multiValueQueryStringParameters={k: [v] for k, v in query.items()} or None,
        pathParameters={"proxy": path.lstrip("/")},
        body=body,
    )
    context = event["requestContext"]
    context.update(httpMethod=method, path=f"/{context['stage']}{path}")
    context["identity"]["apiKey"] = api_key
    return event


def import_handler(path: Path) -> Any:
    """The module as Lambda loads it: from its file, its folder first on sys.path."""
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def child(handler_path: Path, request: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    module = import_handler(handler_path)
    imported = time.perf_counter()
    event = proxy_event(
        request["method"], request["path"], request["query"], request["api_key"], request["body"]
    )
    asyncio.set_event_loop(asyncio.new_event_loop())  # what Mangum's get_event_loop() wants
    response = module.handler(event, ContextStub())
    answered = time.perf_counter()
    return {
        "import_s": imported - started,
        "first_query_s": answered - imported,
        "status": response["statusCode"],
        "body_bytes": len(response.get("body") or ""),
    }


def measure(
    handler_path: Path, request: dict[str, Any], environment: Mapping[str, str]
) -> dict[str, Any]:
    """One fresh process: its figures, plus the process's whole wall time (interpreter start and
    exit included)."""
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "bench.api_bench_coldstart", str(handler_path), json.dumps(request)],
        env=dict(environment),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    wall = time.perf_counter() - started
    lines = [line for line in completed.stdout.splitlines() if line.startswith(MARKER)]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"cold-start process failed: {completed.stderr[-2000:]}")
    return {**json.loads(lines[-1][len(MARKER) :]), "process_s": wall}


if __name__ == "__main__":
    figures = child(Path(sys.argv[1]), json.loads(sys.argv[2]))
    print(MARKER + json.dumps(figures), flush=True)
