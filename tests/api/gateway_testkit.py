"""A real local API Gateway process in front of the API test lake, and an HTTP client for it.

The gateway runs as ``k2 local up`` runs it (``python -m k2.local.api_gateway`` in a process
group of its own, with a pid file and a log), loads the same Lambda handler file, and holds the
two test keys on two usage plans: a generous one for ordinary calls and a tight one whose burst a
test can exhaust. Requests go over real sockets with :mod:`http.client`, so nothing between the
client and the gateway is simulated.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from k2.local.processes import ManagedProcess, wait_until
from k2.local.usage_plans import ApiKey, Plan, Quota, QuotaPeriod, UsagePlansConfig
from k2.settings import K2Settings
from tests.api.api_calls import Answer
from tests.api.api_testkit import HANDLER_FILE, KEYS, REPO, handler_environment

GATEWAY_PORT = 14590 + int(os.environ.get("K2_TEST_PORT_SHIFT", "0"))
"""Preferred port (moved by K2_TEST_PORT_SHIFT like every test port); a free one if taken."""
GENEROUS_KEY, TIGHT_KEY = KEYS
TIGHT_BURST = 3
STARTUP_TIMEOUT_S = 90.0

Query = Mapping[str, str | Sequence[str]] | Sequence[tuple[str, str]]


def usage_plans() -> UsagePlansConfig:
    """KEYS[0] on a plan no test run reaches; KEYS[1] throttled after a burst of three."""
    return UsagePlansConfig(
        keys=[
            ApiKey(
                id="apitestgen1", name="api-tests-generous", value=GENEROUS_KEY, plan="generous"
            ),
            ApiKey(id="apitesttgt1", name="api-tests-tight", value=TIGHT_KEY, plan="tight"),
        ],
        plans={
            "generous": Plan(rate_limit=200, burst_limit=400),
            "tight": Plan(
                rate_limit=1,
                burst_limit=TIGHT_BURST,
                quota=Quota(limit=1000, period=QuotaPeriod.DAY),
            ),
        },
    )


def choose_port(preferred: int = GATEWAY_PORT) -> int:
    """``preferred`` if it can be bound on 127.0.0.1, else one the kernel hands out."""
    for candidate in (preferred, 0):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = probe.getsockname()[1]
            return port
    raise RuntimeError("no free port on 127.0.0.1")


@dataclass(frozen=True)
class Gateway:
    """A running gateway: where it listens, which key is on which plan, and its process."""

    port: int
    process: ManagedProcess
    generous_key: str = GENEROUS_KEY
    tight_key: str = TIGHT_KEY

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        query: Query | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = GENEROUS_KEY,
        timeout: float = 60.0,
    ) -> Answer:
        """One HTTP request; ``body`` is sent as is when bytes or text, else as JSON."""
        all_headers = dict(headers or {})
        if api_key is not None:
            all_headers["X-API-Key"] = api_key
        payload: bytes | None
        if body is None or isinstance(body, bytes):
            payload = body
        elif isinstance(body, str):
            payload = body.encode()
        else:
            payload = json.dumps(body).encode()
        if payload is not None:
            all_headers.setdefault("Content-Type", "application/json")
        target = http_target(path, query)
        with _connection(self.port, timeout) as connection:
            connection.request(method, target, body=payload, headers=all_headers)
            return _answer(connection.getresponse())

    def request_declaring(self, method: str, path: str, content_length: int) -> Answer:
        """Headers announcing a body of ``content_length`` bytes, and no body: what a client
        does before it streams a large upload."""
        with _connection(self.port, 30.0) as connection:
            connection.putrequest(method, path)
            connection.putheader("X-API-Key", self.generous_key)
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(content_length))
            connection.endheaders()
            return _answer(connection.getresponse())


def http_target(path: str, query: Query | None = None) -> str:
    """The request target: the path percent-encoded, then the query (repeats kept in order)."""
    pairs: list[tuple[str, str]] = []
    if isinstance(query, Mapping):
        for name, value in query.items():
            values = [value] if isinstance(value, str) else list(value)
            pairs.extend((name, item) for item in values)
    elif query is not None:
        pairs.extend(query)
    encoded = quote(path, safe="/")
    return f"{encoded}?{urlencode(pairs, quote_via=quote)}" if pairs else encoded


@contextmanager
def _connection(port: int, timeout: float) -> Iterator[http.client.HTTPConnection]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        yield connection
    finally:
        connection.close()


def _answer(response: http.client.HTTPResponse) -> Answer:
    raw = response.read()
    headers: dict[str, str] = {}
    for name, value in response.getheaders():  # a repeated name keeps its last value
        headers[name.lower()] = value
    return Answer(response.status, headers, raw)


def start_gateway(
    directory: Path, cloud_environment: Mapping[str, str], settings: K2Settings
) -> Gateway:
    """Write the usage plans, start the gateway in front of the test handler, and wait until
    ``GET /health`` answers 200 (the handler loaded and reached the catalog)."""
    directory.mkdir(parents=True, exist_ok=True)
    plans_file = directory / "usage-plans.json"
    plans_file.write_text(usage_plans().model_dump_json(indent=2))
    port = choose_port()
    process = ManagedProcess(
        "api-gateway-under-test", directory / "api-gateway.pid", directory / "api-gateway.log"
    )
    process.start(
        [
            sys.executable,
            "-m",
            "k2.local.api_gateway",
            f"--port={port}",
            f"--handler={HANDLER_FILE}:handler",
            f"--usage-plans={plans_file}",
            "--stage=local",
        ],
        env={**cloud_environment, **handler_environment(settings)},
        cwd=REPO,
    )
    gateway = Gateway(port, process)

    def healthy() -> bool:
        if not process.is_running():
            raise RuntimeError(f"the gateway exited:\n{process.last_log_lines(30)}")
        try:
            return gateway.request("GET", "/health", api_key=None, timeout=10).status == 200
        except OSError:
            return False

    try:
        ready = wait_until(healthy, STARTUP_TIMEOUT_S, interval=0.5)
    except BaseException:
        process.stop()
        raise
    if not ready:
        process.stop()
        raise RuntimeError(
            f"the gateway did not answer GET /health with 200 within {STARTUP_TIMEOUT_S:.0f}s:\n"
            f"{process.last_log_lines(30)}"
        )
    return gateway
