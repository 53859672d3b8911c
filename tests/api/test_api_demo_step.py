"""The demo's curl calls work against a running gateway, and their printed form is the same
request with the key left to the shell."""

from __future__ import annotations

import os
import subprocess

import pytest

from k2.local.api_demo import KEY_VARIABLE, run_api_demo
from tests.api.api_testkit import KEYS, ApiLake

pytestmark = pytest.mark.integration


def test_every_demo_call_succeeds_and_the_printed_command_runs(
    api_gateway_url: str, api_lake: ApiLake
) -> None:
    results = run_api_demo(api_gateway_url, KEYS[0])
    assert [r.call.path for r in results if not r.ok] == [], [r.summary for r in results]
    assert {r.call.path for r in results} >= {"/health", "/v1/trades", "/v1/aggregations"}
    assert all(KEYS[0] not in r.command for r in results)

    trades = next(r for r in results if r.call.path == "/v1/trades")
    pasted = subprocess.run(
        ["bash", "-c", trades.command],
        env={**os.environ, KEY_VARIABLE: KEYS[0]},
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert b'"success":true' in pasted.stdout
