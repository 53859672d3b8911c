"""One exchange's WebSocket, kept alive for as long as the feed handler runs.

A real connection drops, stalls, is told to go away (Binance ``serverShutdown``) and, on Binance,
is closed by the server after 24 hours. The session reconnects with jittered exponential
backoff, treats a connection that has sent nothing for ``stale_after`` seconds as dead, and
replaces a connection that must go (planned rotation, shutdown notice) *with overlap*: the
successor is opened and must deliver market data before the old one is closed. Frames from
every connection go into one bounded queue; when the queue is full the socket is simply not
read, so a slow producer slows the exchange's TCP stream instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from k2.domain.markets import MAX_FRAME_BYTES
from k2.feeds.exchange_feed import Clock

log = logging.getLogger(__name__)

EndReason = Literal["closed", "stale", "rotation", "shutdown_notice", "stopped"]


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    """A frame as it came off a socket, stamped on arrival."""

    data: bytes | str
    received_at_us: int
    connection_id: int


@dataclass(frozen=True)
class SessionPolicy:
    stale_after: float
    rotate_after: float | None = None
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    open_timeout: float = 10.0
    rotation_overlap_timeout: float = 30.0
    ping_interval: float | None = 20.0


@dataclass
class SessionStats:
    """Connection-level counters the handler turns into metrics."""

    connections_opened: int = 0
    connect_failures: int = 0
    reconnects: int = 0
    rotations: int = 0
    stale_connections: int = 0
    shutdown_notices: int = 0
    end_reasons: dict[str, int] = field(default_factory=dict)


def backoff_delay(attempt: int, policy: SessionPolicy, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped."""
    doublings = min(attempt, 62)  # past the cap anyway; 2.0**1024 would overflow
    ceiling = min(policy.backoff_max, policy.backoff_initial * 2.0**doublings)
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class _Connection:
    """One open socket and the task that moves its frames into the queue."""

    def __init__(
        self,
        connection_id: int,
        socket: ClientConnection,
        queue: asyncio.Queue[ReceivedFrame],
        stale_after: float,
        clock: Clock,
    ) -> None:
        self.id = connection_id
        self.socket = socket
        self.live = asyncio.Event()
        self.replace = asyncio.Event()
        self.replace_reason: EndReason = "rotation"
        self.end_reason: EndReason | None = None
        self._queue = queue
        self._stale_after = stale_after
        self._clock = clock
        self.pump = asyncio.create_task(self._pump(), name=f"ws-pump-{connection_id}")

    async def _pump(self) -> None:
        try:
            while True:
                async with asyncio.timeout(self._stale_after):
                    message = await self.socket.recv()
                await self._queue.put(ReceivedFrame(message, self._clock(), self.id))
        except TimeoutError:
            self.end_reason = "stale"
        except ConnectionClosed as closed:
            self.end_reason = "closed"
            log.info("connection %d closed: %s", self.id, closed)

    async def close(self) -> None:
        self.pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.pump
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await self.socket.close()


class WebSocketSession:
    """Keeps one logical feed connected until cancelled."""

    def __init__(
        self,
        url: str,
        subscribe_requests: list[str],
        policy: SessionPolicy,
        queue: asyncio.Queue[ReceivedFrame],
        *,
        clock: Clock = now_us,
        rng: random.Random | None = None,
    ) -> None:
        self.url = url
        self.stats = SessionStats()
        self._subscribe_requests = subscribe_requests
        self._policy = policy
        self._queue = queue
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._ids = 0
        self._connections: dict[int, _Connection] = {}
        self._failures = 0  # connects that failed or ended before any data, since the last live

    # -- signals from the handler, which parses the frames ---------------------------------------

    def mark_live(self, connection_id: int) -> None:
        """The handler saw market data from this connection: it is subscribed and flowing."""
        connection = self._connections.get(connection_id)
        if connection is not None and not connection.live.is_set():
            connection.live.set()
            self._failures = 0

    def replace_soon(self, connection_id: int, reason: EndReason = "shutdown_notice") -> None:
        """The exchange announced this connection will end: open a successor now."""
        connection = self._connections.get(connection_id)
        if connection is not None and not connection.replace.is_set():
            if reason == "shutdown_notice":
                self.stats.shutdown_notices += 1
            connection.replace_reason = reason
            connection.replace.set()

    # -- the loop ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and keep a connection open until cancelled."""
        try:
            current = await self._open_with_backoff()
            while True:
                reason = await self._until_replacement_due(current)
                self._count_end(reason)
                if reason in ("closed", "stale"):
                    if not current.live.is_set():
                        self._failures += 1  # accepted, then lost before any data: back off
                    await self._retire(current)
                    self.stats.reconnects += 1
                    current = await self._open_with_backoff()
                    continue
                log.info("replacing connection %d (%s) with overlap", current.id, reason)
                successor = await self._open_with_backoff()
                await self._wait_until_live(successor)
                await self._retire(current)
                self.stats.rotations += 1
                current = successor
        finally:
            for connection in list(self._connections.values()):
                await self._retire(connection)

    async def _until_replacement_due(self, connection: _Connection) -> EndReason:
        rotate_after = self._policy.rotate_after
        replace = asyncio.create_task(connection.replace.wait())
        try:
            done, _ = await asyncio.wait(
                {connection.pump, replace},
                timeout=rotate_after,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            replace.cancel()
        if connection.pump in done:
            if connection.end_reason is None:  # the pump crashed: surface it
                connection.pump.result()
            return connection.end_reason or "closed"
        if replace in done:
            return connection.replace_reason
        return "rotation"

    async def _wait_until_live(self, successor: _Connection) -> None:
        """Give the successor time to deliver data; the old connection keeps pumping meanwhile."""
        live = asyncio.create_task(successor.live.wait())
        try:
            await asyncio.wait(
                {live, successor.pump},
                timeout=self._policy.rotation_overlap_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            live.cancel()
        if not successor.live.is_set():
            log.warning("connection %d not live after the overlap window", successor.id)

    async def _open_with_backoff(self) -> _Connection:
        """Open a connection; the first attempt after a healthy connection is immediate."""
        while True:
            if self._failures:
                delay = backoff_delay(self._failures - 1, self._policy, self._rng)
                log.info("reconnecting to %s in %.2fs", self.url, delay)
                await asyncio.sleep(delay)
            try:
                return await self._open()
            except (OSError, TimeoutError, WebSocketException) as error:
                self.stats.connect_failures += 1
                self._failures += 1
                log.warning("connecting to %s failed: %s", self.url, error or type(error).__name__)

    async def _open(self) -> _Connection:
        socket = await connect(
            self.url,
            open_timeout=self._policy.open_timeout,
            ping_interval=self._policy.ping_interval,
            ping_timeout=self._policy.ping_interval,
            close_timeout=5,
            max_size=MAX_FRAME_BYTES,
            proxy=None,
        )
        try:
            for request in self._subscribe_requests:
                await socket.send(request)
        except ConnectionClosed:
            await socket.close()
            raise
        self._ids += 1
        connection = _Connection(
            self._ids, socket, self._queue, self._policy.stale_after, self._clock
        )
        self._connections[connection.id] = connection
        self.stats.connections_opened += 1
        log.info("connection %d open to %s", connection.id, self.url)
        return connection

    async def _retire(self, connection: _Connection) -> None:
        self._connections.pop(connection.id, None)
        await connection.close()

    def _count_end(self, reason: EndReason) -> None:
        self.stats.end_reasons[reason] = self.stats.end_reasons.get(reason, 0) + 1
        if reason == "stale":
            self.stats.stale_connections += 1
