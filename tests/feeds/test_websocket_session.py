"""The WebSocket session against the exchange simulator: what a long-lived connection survives.

No Kafka here: the test drains the session's queue itself, parses the frames with the real
parser and checks the trade ids it got (the simulator numbers them contiguously per symbol).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from k2.domain.markets import Exchange
from k2.feeds import binance
from k2.feeds.websocket_session import ReceivedFrame, SessionPolicy, WebSocketSession
from k2.local.exchange_simulator import (
    ExchangeSimulator,
    FaultKind,
    FaultRequest,
    SimulatorConfig,
)

pytestmark = pytest.mark.integration

STREAMS = ["btcusdt@trade", "btcusdt@bookTicker"]


@asynccontextmanager
async def _running(session: WebSocketSession) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(session.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _collect_trade_ids(
    session: WebSocketSession, queue: asyncio.Queue[ReceivedFrame], seconds: float
) -> list[int]:
    """Drain the queue for ``seconds``, marking each connection live as real data arrives."""
    ids: list[int] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (remaining := deadline - loop.time()) > 0:
        try:
            frame = await asyncio.wait_for(queue.get(), remaining)
        except TimeoutError:
            break
        parsed = binance.parse_frame(frame.data, received_at_us=frame.received_at_us)
        if parsed.trades or parsed.quotes:
            session.mark_live(frame.connection_id)
        ids.extend(trade.trade_id for trade in parsed.trades)
    return ids


def _contiguous(ids: list[int]) -> bool:
    distinct = sorted(set(ids))
    return distinct == list(range(distinct[0], distinct[-1] + 1))


def test_planned_rotation_overlaps_so_no_trade_is_missed() -> None:
    """The server ends each connection after 2.5 s (Binance: 24 h); the session rotates at 1 s."""

    async def scenario() -> tuple[list[int], WebSocketSession]:
        config = SimulatorConfig(seed=1, rate=300, binance_max_lifetime=2.5)
        async with ExchangeSimulator(config) as sim:
            queue: asyncio.Queue[ReceivedFrame] = asyncio.Queue()
            session = WebSocketSession(
                sim.binance_ws_url(STREAMS, microseconds=True),
                [],
                SessionPolicy(stale_after=5, rotate_after=1.0, rotation_overlap_timeout=2),
                queue,
            )
            async with _running(session):
                ids = await _collect_trade_ids(session, queue, 5.0)
        return ids, session

    ids, session = asyncio.run(scenario())

    assert session.stats.rotations >= 3
    assert session.stats.end_reasons.get("closed", 0) == 0  # never waited for the server's close
    assert len(ids) > len(set(ids))  # the overlap delivered some trades twice...
    assert _contiguous(ids)  # ...and none was missed


def test_a_stalled_connection_is_declared_stale_and_replaced() -> None:
    async def scenario() -> tuple[list[int], WebSocketSession]:
        config = SimulatorConfig(seed=2, rate=200, stall_duration=30)
        async with ExchangeSimulator(config) as sim:
            queue: asyncio.Queue[ReceivedFrame] = asyncio.Queue()
            session = WebSocketSession(
                sim.binance_ws_url(STREAMS, microseconds=True),
                [],
                SessionPolicy(stale_after=0.5, backoff_initial=0.05),
                queue,
            )
            async with _running(session):
                before = await _collect_trade_ids(session, queue, 1.0)
                sim.inject(FaultRequest(FaultKind.STALL, Exchange.BINANCE))
                after = await _collect_trade_ids(session, queue, 2.0)
        return before + after, session

    ids, session = asyncio.run(scenario())

    assert session.stats.stale_connections == 1
    assert session.stats.connections_opened == 2
    assert ids[-1] > ids[0]  # trades flow again on the new connection


def test_the_session_keeps_retrying_until_the_exchange_is_back() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> tuple[list[int], WebSocketSession]:
        queue: asyncio.Queue[ReceivedFrame] = asyncio.Queue()
        session = WebSocketSession(
            f"ws://127.0.0.1:{port}/stream?streams={'/'.join(STREAMS)}",
            [],
            SessionPolicy(stale_after=5, backoff_initial=0.05, backoff_max=0.2),
            queue,
        )
        async with _running(session):
            await asyncio.sleep(1.0)  # nothing listens yet
            async with ExchangeSimulator(SimulatorConfig(seed=3, rate=200, binance_port=port)):
                ids = await _collect_trade_ids(session, queue, 1.5)
        return ids, session

    ids, session = asyncio.run(scenario())

    assert session.stats.connect_failures >= 3
    assert session.stats.connections_opened == 1
    assert ids


def test_a_full_queue_stops_reading_instead_of_growing() -> None:
    async def scenario() -> tuple[int, list[int]]:
        async with ExchangeSimulator(SimulatorConfig(seed=4, rate=500)) as sim:
            queue: asyncio.Queue[ReceivedFrame] = asyncio.Queue(maxsize=20)
            session = WebSocketSession(
                sim.binance_ws_url(STREAMS, microseconds=True), [], SessionPolicy(5), queue
            )
            async with _running(session):
                await asyncio.sleep(1.0)  # nobody drains: the session must wait, not buffer
                held = queue.qsize()
                ids = await _collect_trade_ids(session, queue, 1.0)
        return held, ids

    held, ids = asyncio.run(scenario())

    assert held == 20
    assert _contiguous(ids)  # what was held back arrives later, in order, without a hole
