"""Helpers shared by the REST backfill tests: bounded runs, a fake clock and sleep, a scripted
loopback HTTP server, and the exchange simulator's ground truth."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl, urlsplit

from k2.domain.markets import Exchange
from k2.feeds.rest_client import RetryPolicy
from k2.local.exchange_simulator import (
    ExchangeSimulator,
    FaultKind,
    FaultRequest,
    SimulatorConfig,
)

T = TypeVar("T")
RECEIVED = 1737500000530000
FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)

# What the scripted server answers: status, extra headers, body.
Reply = tuple[int, dict[str, str], bytes]


def run(coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """One scenario with a hard bound, so a hang fails instead of blocking the run."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def clock() -> Callable[[], int]:
    """A fake receive clock: 1, 2, 3... so each page's ingestion time is known."""
    ticks = iter(range(1, 10_000))
    return lambda: next(ticks)


class Sleeps:
    """Records the waits the client asks for instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class ScriptedServer:
    """A loopback HTTP server answering each GET with ``respond(path)``; keeps every request
    (header names in lower case: HTTP field names are case-insensitive)."""

    def __init__(self, respond: Callable[[str], Reply]) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                status, headers, body = respond(self.path)
                self.send_response(status)
                for name, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def paths(self) -> list[str]:
        """The path (with query) of every request so far, in order."""
        return [path for path, _ in self.requests]

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def query(path: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(path).query))


# -- the exchange simulator's ground truth ---------------------------------------------------------


def ground_truth(path: Path, symbol: str) -> list[dict[str, Any]]:
    """The complete lines of the simulator's ground truth for one symbol, in id order."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = text[: text.rfind("\n") + 1].splitlines()
    rows = [json.loads(line) for line in lines]
    return sorted((r for r in rows if r["symbol"] == symbol), key=lambda r: r["trade_id"])


async def wait_for(
    check: Callable[[], list[dict[str, Any]] | None], timeout: float = 15.0
) -> list[dict[str, Any]]:
    for _ in range(int(timeout / 0.05)):
        rows = check()
        if rows is not None:
            return rows
        await asyncio.sleep(0.05)
    raise AssertionError("the simulator did not produce the trades in time")


class _Trade(Protocol):
    @property
    def trade_id(self) -> int: ...


TradeT = TypeVar("TradeT", bound=_Trade)
# Backfills ids first..last from the running simulator, given its ground truth by trade id.
Backfill = Callable[
    [ExchangeSimulator, int, int, dict[int, dict[str, Any]]], Awaitable[list[TradeT]]
]


def backfill_around_skipped_trades(
    tmp_path: Path,
    exchange: Exchange,
    symbol: str,
    backfill: Backfill[TradeT],
    *,
    before: int,
    after: int,
) -> tuple[list[TradeT], list[dict[str, Any]]]:
    """Runs the simulator until 30 trades of ``symbol`` are made, has it keep the next 20 off the
    wire, waits for 15 more, then backfills from ``before`` ids ahead of the skipped ones to
    ``after`` ids past them. Checks that exactly the ground truth's ids came back, the skipped
    ones included; returns the trades and the ground truth rows of the range, in id order."""
    gt_path = tmp_path / "gt.jsonl"

    async def scenario() -> tuple[list[TradeT], list[dict[str, Any]], list[int]]:
        config = SimulatorConfig(rate=500, ground_truth=gt_path, control_port=None)
        async with ExchangeSimulator(config) as sim:
            await wait_for(lambda: r if len(r := ground_truth(gt_path, symbol)) >= 30 else None)
            sim.inject(FaultRequest(FaultKind.SKIP, exchange, symbol, count=20))

            def enough() -> list[dict[str, Any]] | None:
                rows = ground_truth(gt_path, symbol)
                skipped = [r["trade_id"] for r in rows if not r["on_wire"]]
                after_skip = [r for r in rows if skipped and r["trade_id"] > max(skipped)]
                return rows if len(skipped) == 20 and len(after_skip) >= 15 else None

            truth = await wait_for(enough)
            skipped = [r["trade_id"] for r in truth if not r["on_wire"]]
            first_id, last_id = skipped[0] - before, skipped[-1] + after
            by_id = {r["trade_id"]: r for r in truth}
            trades = await backfill(sim, first_id, last_id, by_id)
        expected = [r for r in truth if first_id <= r["trade_id"] <= last_id]
        return trades, expected, skipped

    trades, expected, skipped = run(scenario())
    assert len(expected) == before + 20 + after and len(skipped) == 20
    assert [t.trade_id for t in trades] == [r["trade_id"] for r in expected]
    assert set(skipped) <= {t.trade_id for t in trades}
    return trades, expected
