"""Helpers shared by the simulator tests: bounded waits, HTTP calls off the event loop."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection

from k2.local.exchange_simulator import SimulatorConfig

T = TypeVar("T")

TRADE_FIELDS = {"e", "E", "s", "t", "p", "q", "T", "m", "M"}
BOOK_TICKER_FIELDS = {"u", "s", "b", "B", "a", "A"}
KRAKEN_TRADE_FIELDS = {"symbol", "side", "price", "qty", "ord_type", "trade_id", "timestamp"}


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run one scenario with a hard upper bound, so a hang fails instead of blocking."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def make_config(tmp_path: Path, **overrides: Any) -> SimulatorConfig:
    values: dict[str, Any] = {"rate": 400.0, "ground_truth": tmp_path / "gt.jsonl"}
    values.update(overrides)
    return SimulatorConfig(**values)


def ground_truth(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


async def recv_json(ws: ClientConnection, timeout: float = 5.0) -> Any:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def binance_trades(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next ``count`` trade payloads from a combined stream (other frames skipped)."""
    trades: list[dict[str, Any]] = []
    for _ in range(count * 20):
        frame = await recv_json(ws)
        if frame.get("stream", "").endswith("@trade"):
            trades.append(frame["data"])
            if len(trades) == count:
                return trades
    raise AssertionError(f"only {len(trades)} trades")


def rfc3339_us(text: str) -> int:
    moment = datetime.fromisoformat(text)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // _MICROSECOND


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)


def _http(url: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers)  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    status, text = await asyncio.to_thread(_http, url, None, headers or {})
    return status, json.loads(text)


async def http_post(url: str, body: object) -> tuple[int, Any]:
    payload = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    status, text = await asyncio.to_thread(_http, url, payload, headers)
    return status, json.loads(text)
