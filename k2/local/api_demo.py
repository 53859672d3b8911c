"""The demo's last step: real ``curl`` calls to the API through the local API Gateway.

The commands printed are the ones run (with the key read from the environment, so it is not
echoed), so a reader can paste them and get the same answers.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from k2.local.errors import LocalCloudError

KEY_VARIABLE = "K2_API_KEY"
_STATUS_MARK = "\nK2-HTTP-STATUS:"


@dataclass(frozen=True)
class ApiCall:
    description: str
    method: str
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None = None
    needs_key: bool = True


@dataclass(frozen=True)
class ApiCallResult:
    call: ApiCall
    command: str
    status: int
    summary: str

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def demo_calls(symbol: str, now: datetime) -> list[ApiCall]:
    """A tour: health, symbols, recent trades, 1m bars, a VWAP, freshness, time travel."""
    hour_ago = (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    until = (now + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    return [
        ApiCall("health (no key needed)", "GET", "/health", {}, needs_key=False),
        ApiCall("instruments with trades", "GET", "/v1/symbols", {}),
        ApiCall(
            "latest 3 trades",
            "GET",
            "/v1/trades",
            {"symbol": symbol, "limit": "3", "fields": "timestamp,trade_id,price,quantity,side"},
        ),
        ApiCall(
            "1-minute bars of the last hour",
            "GET",
            "/v1/ohlcv/1m",
            {"symbol": symbol, "limit": "60"},
        ),
        ApiCall(
            "VWAP and TWAP over the last hour",
            "POST",
            "/v1/aggregations",
            {},
            {
                "symbols": [symbol],
                "metrics": ["vwap", "twap"],
                "start_time": hour_ago,
                "end_time": until,
            },
        ),
        ApiCall("bar freshness per timeframe", "GET", "/v1/ohlcv/health", {}),
        ApiCall("gold trades' snapshots (for time travel)", "GET", "/v1/snapshots", {"limit": "3"}),
    ]


def curl_argv(base_url: str, call: ApiCall, key: str | None) -> list[str]:
    """The curl command; ``key`` None writes ``$K2_API_KEY`` (for printing)."""
    url = base_url + call.path + (f"?{urlencode(call.query)}" if call.query else "")
    argv = ["curl", "-sS", "-X", call.method, url]
    if call.needs_key:
        argv += ["-H", f"X-API-Key: {key if key is not None else '$' + KEY_VARIABLE}"]
    if call.body is not None:
        argv += ["-H", "Content-Type: application/json", "-d", json.dumps(call.body)]
    return argv


def printable(argv: list[str]) -> str:
    """Shell-quoted, with the key variable left for the shell to expand."""
    quoted = shlex.join(argv)
    return quoted.replace(f"'X-API-Key: ${KEY_VARIABLE}'", f'"X-API-Key: ${KEY_VARIABLE}"')


def summarise(status: int, body: bytes) -> str:
    try:
        document = json.loads(body)
    except ValueError:
        return f"HTTP {status}, {len(body)} bytes"
    if not document.get("success", False):
        error = document.get("error") or {}
        return f"HTTP {status}: {error.get('code')}: {error.get('message')}"
    data = document.get("data")
    if isinstance(data, list):
        return f"HTTP {status}: {len(data)} rows"
    if isinstance(data, dict) and "status" in data:
        return f"HTTP {status}: {data['status']}"
    if isinstance(data, dict) and "overall_status" in data:
        return f"HTTP {status}: {data['overall_status']}"
    return f"HTTP {status}"


def _curl(base_url: str, call: ApiCall, key: str) -> tuple[int, bytes]:
    """Run the call with curl: its HTTP status and body."""
    if shutil.which("curl") is None:
        raise LocalCloudError("curl is not installed; the demo's API step runs real curl calls")
    argv = [*curl_argv(base_url, call, key), "-w", _STATUS_MARK + "%{http_code}"]
    result = subprocess.run(argv, capture_output=True, timeout=120, check=False)
    if result.returncode != 0:
        raise LocalCloudError(
            f"curl {call.path} failed: {result.stderr.decode(errors='replace').strip()}"
        )
    body, _, status = result.stdout.rpartition(_STATUS_MARK.encode())
    return int(status.strip() or 0), body


def run_call(base_url: str, call: ApiCall, key: str) -> ApiCallResult:
    status, body = _curl(base_url, call, key)
    command = printable(curl_argv(base_url, call, None))
    return ApiCallResult(call, command, status, summarise(status, body))


def pick_symbol(base_url: str, key: str) -> str:
    """The first instrument with trades (BTCUSDT when it has some)."""
    status, body = _curl(base_url, ApiCall("symbols", "GET", "/v1/symbols", {}), key)
    if status != 200:
        raise LocalCloudError(f"GET /v1/symbols answered {summarise(status, body)}")
    symbols = [item["symbol"] for item in json.loads(body)["data"]]
    if not symbols:
        raise LocalCloudError("the API lists no instruments: gold has no trades yet")
    return "BTCUSDT" if "BTCUSDT" in symbols else symbols[0]


def run_api_demo(base_url: str, key: str) -> list[ApiCallResult]:
    symbol = pick_symbol(base_url, key)
    return [run_call(base_url, call, key) for call in demo_calls(symbol, datetime.now(UTC))]
