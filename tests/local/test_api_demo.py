"""The demo's curl commands: what is printed is what runs, without the key in it."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime

import pytest

from k2.local.api_demo import ApiCall, curl_argv, demo_calls, printable, summarise

pytestmark = pytest.mark.unit


def test_printed_commands_run_the_same_request_with_the_key_from_the_environment() -> None:
    call = ApiCall("vwap", "POST", "/v1/aggregations", {"a": "b c"}, {"symbols": ["BTCUSDT"]})
    secret = "s3cr3t-demo-key-0123456789"
    run = curl_argv("http://127.0.0.1:4580", call, secret)
    shown = printable(curl_argv("http://127.0.0.1:4580", call, None))
    assert secret not in shown and '"X-API-Key: $K2_API_KEY"' in shown
    as_shell_reads_it = shlex.split(shown.replace("$K2_API_KEY", secret))
    assert as_shell_reads_it == run
    assert run[run.index("-d") + 1] == json.dumps({"symbols": ["BTCUSDT"]})
    assert "http://127.0.0.1:4580/v1/aggregations?a=b+c" in run


def test_health_is_called_without_a_key() -> None:
    calls = demo_calls("BTCUSDT", datetime(2026, 11, 26, tzinfo=UTC))
    health = next(call for call in calls if call.path == "/health")
    assert not any("X-API-Key" in part for part in curl_argv("http://h", health, "k"))
    assert all(call.needs_key for call in calls if call.path.startswith("/v1/"))


def test_summaries_say_what_came_back() -> None:
    assert summarise(200, b'{"success": true, "data": [1, 2]}') == "HTTP 200: 2 rows"
    error = b'{"success": false, "error": {"code": "invalid_symbol", "message": "no"}}'
    assert summarise(400, error) == "HTTP 400: invalid_symbol: no"
    assert summarise(502, b"<html>") == "HTTP 502, 6 bytes"
