"""``python -m k2.local.exchange_simulator`` starts, reports its ports and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.local.exchange_simulator.sim_testkit import binance_trades, run

pytestmark = pytest.mark.unit


def test_cli_runs_until_sigterm(tmp_path: Path) -> None:
    truth = tmp_path / "gt.jsonl"
    command = [
        sys.executable,
        "-m",
        "k2.local.exchange_simulator",
        "--host",
        "127.0.0.1",
        "--binance-port",
        "0",
        "--kraken-port",
        "0",
        "--control-port",
        "0",
        "--seed",
        "3",
        "--rate",
        "200",
        "--ground-truth",
        str(truth),
        "--log-level",
        "WARNING",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout=30)
        assert lines, "the simulator did not report ready"
        ready = json.loads(lines[0])
        assert ready["event"] == "ready"
        port = ready["ports"]["binance"]

        async def scenario() -> None:
            url = f"ws://127.0.0.1:{port}/stream?streams=btcusdt@trade"
            async with connect(url) as ws:
                assert len(await binance_trades(ws, 3)) == 3

        run(scenario())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert truth.read_text().count("\n") >= 3
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
