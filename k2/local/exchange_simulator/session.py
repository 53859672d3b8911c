"""What every simulated connection shares: a bounded send queue, stalls, faults, lifetime.

The engine never waits on a socket: it hands events to ``deliver`` which queues rendered frames;
a sender task drains the queue. A client too slow to keep up is disconnected when its queue
fills, as real exchanges drop slow consumers, instead of the simulator growing without bound.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Coroutine
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from k2.domain.markets import Exchange

from .config import SimulatorConfig
from .engine import ExchangeEngine, WireEvent
from .faults import FaultKind, FaultRequest
from .ground_truth import GroundTruthLog

log = logging.getLogger(__name__)


class BaseSession(ABC):
    """One WebSocket connection; subclasses render events in their exchange's protocol."""

    exchange: Exchange

    def __init__(
        self,
        ws: ServerConnection,
        engine: ExchangeEngine,
        config: SimulatorConfig,
        ground_truth: GroundTruthLog,
    ) -> None:
        self.ws = ws
        self.engine = engine
        self.config = config
        self.ground_truth = ground_truth
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue(config.send_queue_size)
        self._stalled_until = 0.0
        self._closing = False
        self._shutting_down = False
        self._tasks: list[asyncio.Task[None]] = []
        self.last_sent = self._loop.time()

    # -- called by the engine -------------------------------------------------------------

    @abstractmethod
    def deliver(self, event: WireEvent) -> None:
        """Render an engine event for this connection's subscriptions and queue it."""

    @abstractmethod
    def shutdown_notice(self) -> str | None:
        """The frame announcing a server shutdown (None: the protocol has none)."""

    def connection_fault(self, request: FaultRequest) -> None:
        if request.fault is FaultKind.DISCONNECT:
            self.abort()
        elif request.fault is FaultKind.STALL:
            duration = request.duration or self.config.stall_duration
            self._stalled_until = self._loop.time() + duration
        elif request.fault is FaultKind.SERVER_SHUTDOWN and not self._shutting_down:
            # Data keeps flowing during the grace period, as on Binance; then the close.
            self._shutting_down = True
            notice = self.shutdown_notice()
            if notice is not None:
                self.enqueue(notice, force=True)
            self._spawn(self._close_after(self.config.shutdown_grace, 1001, "server shutdown"))

    def end_stall(self) -> None:
        self._stalled_until = 0.0

    # -- helpers for subclasses ------------------------------------------------------------

    @property
    def backlog(self) -> int:
        """Frames queued but not yet written to the socket (0 once the connection is closing)."""
        return 0 if self._closing else self._queue.qsize()

    @property
    def stalled(self) -> bool:
        return self._loop.time() < self._stalled_until

    def enqueue(self, text: str, *, malformed: str | None = None, force: bool = False) -> None:
        """Queue a frame; dropped while stalled (unless forced), fatal when the queue is full."""
        if self._closing or (self.stalled and not force):
            return
        try:
            self._queue.put_nowait((text, malformed))
        except asyncio.QueueFull:
            log.warning("%s client too slow, disconnecting", self.exchange.value)
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, as a network failure would."""
        self._closing = True
        self.engine.detach(self)
        self.ws.transport.abort()

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """Extra tasks for the life of the connection (pings, heartbeats)."""
        return []

    @abstractmethod
    async def on_message(self, message: str | bytes) -> None:
        """Handle a client request."""

    # -- lifecycle --------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes, then stop every task it started."""
        self.engine.attach(self)
        self._spawn(self._sender())
        for coroutine in self.background():
            self._spawn(coroutine)
        lifetime = self.config.max_lifetime(self.exchange)
        if lifetime is not None:
            self._spawn(self._close_after(lifetime, 1000, "connection lifetime reached"))
        try:
            async for message in self.ws:
                await self.on_message(message)
        except ConnectionClosed:
            pass
        finally:
            self.engine.detach(self)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(coroutine))

    async def _sender(self) -> None:
        try:
            while True:
                text, malformed = await self._queue.get()
                await self.ws.send(text)
                self.last_sent = self._loop.time()
                if malformed is not None:
                    self.ground_truth.record_malformed(self.exchange, malformed, text)
        except ConnectionClosed:
            # Closing: stop queueing for a socket that will take no more.
            self._closing = True
            self.engine.detach(self)

    async def _close_after(self, delay: float, code: int, reason: str) -> None:
        await asyncio.sleep(delay)
        self._closing = True
        await self.ws.close(code, reason)
