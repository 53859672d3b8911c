"""``ExchangeSimulator``: both simulated exchanges, the control endpoint and the fault schedule.

Use it in-process (tests) or through ``python -m k2.local.exchange_simulator``::

    async with ExchangeSimulator(SimulatorConfig(seed=7, rate=200)) as sim:
        url = sim.binance_ws_url(["btcusdt@trade"])
        sim.inject(FaultRequest(FaultKind.DISCONNECT, Exchange.BINANCE))

Every socket binds the configured loopback host; port 0 picks a free port, read back from
the ``*_port`` properties once started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from websockets.asyncio.server import Server, serve

from k2.domain.markets import Exchange

from .binance_server import BinanceEndpoint
from .config import SimulatorConfig, loopback_host
from .control import ControlServer
from .engine import ExchangeEngine
from .faults import FaultRequest
from .ground_truth import GroundTruthLog
from .kraken_server import KrakenEndpoint

log = logging.getLogger(__name__)


class ExchangeSimulator:
    """Binance and Kraken look-alikes on loopback, with faults and a ground-truth log."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self._host = loopback_host(self.config.host)
        self.ground_truth = GroundTruthLog(None)
        self.engines: dict[Exchange, ExchangeEngine] = {}
        self._servers: dict[Exchange, Server] = {}
        self._control: ControlServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._schedule: asyncio.Task[None] | None = None
        self._started = False

    async def __aenter__(self) -> ExchangeSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind every port and start the markets."""
        if self._started:
            raise RuntimeError("simulator already started")
        self._started = True
        config = self.config
        self.ground_truth = GroundTruthLog(config.ground_truth)
        binance = ExchangeEngine(Exchange.BINANCE, config, self.ground_truth)
        kraken = ExchangeEngine(Exchange.KRAKEN, config, self.ground_truth)
        self.engines = {Exchange.BINANCE: binance, Exchange.KRAKEN: kraken}
        endpoints: dict[Exchange, BinanceEndpoint | KrakenEndpoint] = {
            Exchange.BINANCE: BinanceEndpoint(binance, config, self.ground_truth),
            Exchange.KRAKEN: KrakenEndpoint(kraken, config, self.ground_truth),
        }
        ports = {Exchange.BINANCE: config.binance_port, Exchange.KRAKEN: config.kraken_port}
        try:
            for exchange, endpoint in endpoints.items():
                self._servers[exchange] = await serve(
                    endpoint.handler,
                    self._host,
                    ports[exchange],
                    process_request=endpoint.process_request,
                    ping_interval=None,  # the sessions ping on their own, so stalls can stop it
                    max_size=2**20,
                )
            if config.control_port is not None:
                self._control = ControlServer(self, self._host, config.control_port)
                await self._control.start()
        except BaseException:
            await self.stop()
            raise
        for engine in self.engines.values():
            self._tasks.append(asyncio.create_task(engine.run()))
        if config.fault_schedule:
            self._schedule = asyncio.create_task(self._run_schedule())
        log.info("exchange simulator listening: %s", self.stats()["ports"])

    async def stop(self) -> None:
        """Close every connection and port, stop the markets, flush the ground truth."""
        tasks = [*self._tasks, *([self._schedule] if self._schedule else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._schedule = None
        for server in self._servers.values():
            server.close()
        for server in self._servers.values():
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        if self._control is not None:
            await self._control.stop()
            self._control = None
        self.ground_truth.close()

    def pause_markets(self) -> None:
        """Stop making trades and quotes; sockets, heartbeats and REST stay up. Lets a test end
        with nothing in flight, so whatever a client holds can be compared with the ground truth
        in full."""
        for task in self._tasks:
            task.cancel()

    # -- faults -------------------------------------------------------------------------------

    def inject(self, request: FaultRequest) -> None:
        """Inject one fault now on the exchange(s) it names."""
        for engine in self.engines.values():
            engine.inject(request)

    def clear_faults(self) -> None:
        """Stop injecting: queued, scheduled and background faults, and running stalls."""
        if self._schedule is not None:
            self._schedule.cancel()
            self._schedule = None
        for engine in self.engines.values():
            engine.clear_faults()

    async def _run_schedule(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for scheduled in sorted(self.config.fault_schedule, key=lambda item: item.at):
            await asyncio.sleep(max(0.0, start + scheduled.at - loop.time()))
            log.info("scheduled fault at %.3fs: %s", scheduled.at, scheduled.request)
            self.inject(scheduled.request)

    # -- addresses and state -----------------------------------------------------------------

    def port(self, exchange: Exchange) -> int:
        port: int = self._servers[exchange].sockets[0].getsockname()[1]
        return port

    @property
    def binance_port(self) -> int:
        return self.port(Exchange.BINANCE)

    @property
    def kraken_port(self) -> int:
        return self.port(Exchange.KRAKEN)

    @property
    def control_port(self) -> int | None:
        return self._control.port if self._control is not None else None

    def binance_ws_url(self, streams: Iterable[str], *, microseconds: bool = False) -> str:
        url = f"ws://{self._host}:{self.binance_port}/stream?streams={'/'.join(streams)}"
        return url + "&timeUnit=MICROSECOND" if microseconds else url

    @property
    def binance_rest_url(self) -> str:
        return f"http://{self._host}:{self.binance_port}"

    @property
    def kraken_ws_url(self) -> str:
        return f"ws://{self._host}:{self.kraken_port}/v2"

    @property
    def kraken_rest_url(self) -> str:
        return f"http://{self._host}:{self.kraken_port}"

    @property
    def control_url(self) -> str | None:
        port = self.control_port
        return None if port is None else f"http://{self._host}:{port}"

    def stats(self) -> dict[str, Any]:
        """Counters plus where everything listens and the next trade id per symbol."""
        return {
            **self.ground_truth.stats(),
            "ports": {
                "binance": self.binance_port if Exchange.BINANCE in self._servers else None,
                "kraken": self.kraken_port if Exchange.KRAKEN in self._servers else None,
                "control": self.control_port,
            },
            "connections": {
                exchange.value: engine.connections for exchange, engine in self.engines.items()
            },
            "next_trade_id": {
                exchange.value: {
                    symbol: market.next_trade_id for symbol, market in engine.markets.items()
                }
                for exchange, engine in self.engines.items()
            },
        }
