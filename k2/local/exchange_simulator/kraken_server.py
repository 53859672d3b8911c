"""The simulated Kraken endpoint: spot WebSocket v2 at ``/v2`` and REST ``/0/public/Trades``.

Kraken v2 has no ``serverShutdown``; the closest announcement it documents is a ``status``
update whose ``system`` leaves ``online``, so a server-shutdown fault sends
``system: maintenance`` and then closes. Heartbeats go out about once a second when nothing else
was sent, once the client has subscribed to something.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Coroutine
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from k2.domain.markets import Exchange

from . import kraken_protocol as kp
from .config import SimulatorConfig
from .engine import ExchangeEngine, MalformedOut, QuoteOut, TradesOut, WireEvent, now_us
from .ground_truth import GroundTruthLog
from .rest import json_response
from .session import BaseSession

_DEFAULT_SNAPSHOT = {"trade": False, "ticker": True}  # as the v2 reference documents them
_TRIGGERS = ("trades", "bbo")


class KrakenSession(BaseSession):
    exchange = Exchange.KRAKEN

    def __init__(
        self,
        ws: ServerConnection,
        engine: ExchangeEngine,
        config: SimulatorConfig,
        ground_truth: GroundTruthLog,
        connection_id: int,
    ) -> None:
        super().__init__(ws, engine, config, ground_truth)
        self.connection_id = connection_id
        # (channel, symbol) -> ticker event trigger ("trades" for the trade channel)
        self.subscriptions: dict[tuple[str, str], str] = {}
        self._last_trade_message: str | None = None
        self.enqueue(kp.status_frame(connection_id))

    def deliver(self, event: WireEvent) -> None:
        if isinstance(event, TradesOut):
            if ("trade", event.symbol) in self.subscriptions:
                self._last_trade_message = kp.trade_message("update", list(event.trades))
                self.enqueue(self._last_trade_message)
        elif isinstance(event, QuoteOut):
            trigger = self.subscriptions.get(("ticker", event.quote.symbol))
            if trigger == "bbo" or (trigger == "trades" and event.after_trade):
                self.enqueue(kp.ticker_message("update", event.quote, event.stats))
        elif isinstance(event, MalformedOut) and self.subscriptions:
            text = kp.malformed_frame(event.kind, event.symbol, self._last_trade_message)
            self.enqueue(text, malformed=event.kind.value)

    def shutdown_notice(self) -> str | None:
        return kp.status_frame(self.connection_id, system="maintenance")

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._heartbeat()]

    async def on_message(self, message: str | bytes) -> None:
        time_in = now_us()
        try:
            request = json.loads(message)
        except ValueError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            self._error("error", "Malformed request", None, None, time_in)
            return
        method = request["method"]
        req_id = request.get("req_id") if isinstance(request.get("req_id"), int) else None
        if method == "ping":
            self.enqueue(kp.pong(req_id, time_in_us=time_in, time_out_us=now_us()), force=True)
        elif method in ("subscribe", "unsubscribe"):
            self._subscription(method, request.get("params"), req_id, time_in)
        else:
            self._error(method, f"Method not supported: {method}", None, req_id, time_in)

    def _subscription(self, method: str, params: object, req_id: int | None, time_in: int) -> None:
        if not isinstance(params, dict):
            self._error(method, "Missing params", None, req_id, time_in)
            return
        channel = params.get("channel")
        symbols = params.get("symbol")
        if channel not in _DEFAULT_SNAPSHOT:
            self._error(method, f"Channel not supported: {channel}", None, req_id, time_in)
            return
        if not isinstance(symbols, list) or not all(isinstance(s, str) for s in symbols):
            self._error(method, "symbol must be a list of strings", None, req_id, time_in)
            return
        snapshot = params.get("snapshot", _DEFAULT_SNAPSHOT[str(channel)])
        trigger = params.get("event_trigger", "trades") if channel == "ticker" else "trades"
        if not isinstance(snapshot, bool) or trigger not in _TRIGGERS:
            self._error(method, "Invalid snapshot or event_trigger", None, req_id, time_in)
            return
        for symbol in symbols:
            key = (str(channel), symbol)
            if symbol not in self.engine.markets:
                self._error(
                    method, f"Currency pair not supported {symbol}", symbol, req_id, time_in
                )
            elif method == "subscribe" and key in self.subscriptions:
                self._error(method, "Already subscribed", symbol, req_id, time_in)
            elif method == "unsubscribe" and key not in self.subscriptions:
                self._error(method, "Subscription Not Found", symbol, req_id, time_in)
            else:
                self.enqueue(
                    kp.subscribe_ack(
                        method,
                        key[0],
                        symbol,
                        snapshot,
                        req_id=req_id,
                        time_in_us=time_in,
                        time_out_us=now_us(),
                    ),
                    force=True,
                )
                if method == "unsubscribe":
                    del self.subscriptions[key]
                    continue
                self.subscriptions[key] = str(trigger)
                self.engine.mark_subscribed()
                if snapshot:
                    self._snapshot(key[0], symbol)

    def _snapshot(self, channel: str, symbol: str) -> None:
        """The last trades (or the current ticker) as one ``snapshot`` message."""
        if channel == "trade":
            trades = self.engine.histories[symbol].latest(self.config.snapshot_size)
            self.enqueue(kp.trade_message("snapshot", trades))
        else:
            market = self.engine.markets[symbol]
            self.enqueue(kp.ticker_message("snapshot", market.top(now_us()), market.ticker()))

    def _error(
        self, method: str, error: str, symbol: str | None, req_id: int | None, time_in: int
    ) -> None:
        self.enqueue(
            kp.error_response(
                method,
                error,
                symbol=symbol,
                req_id=req_id,
                time_in_us=time_in,
                time_out_us=now_us(),
            ),
            force=True,
        )

    async def _heartbeat(self) -> None:
        interval = self.config.heartbeat_interval
        while True:
            await asyncio.sleep(interval / 4)
            idle = asyncio.get_running_loop().time() - self.last_sent
            if self.subscriptions and idle >= interval:
                self.enqueue(kp.HEARTBEAT)


class KrakenEndpoint:
    """The ``websockets`` hooks for the Kraken port."""

    def __init__(
        self, engine: ExchangeEngine, config: SimulatorConfig, ground_truth: GroundTruthLog
    ) -> None:
        self.engine = engine
        self.config = config
        self.ground_truth = ground_truth
        self._connection_ids = itertools.count(10_000_000_000_000 + config.seed)

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path.startswith("/0/"):
            status, body = kp.rest_trades_response(request.path, self.engine.histories)
            return json_response(status, body)
        if request.path.split("?")[0] != "/v2":
            return json_response(404, json.dumps({"error": ["EGeneral:Unknown path"]}))
        return None

    async def handler(self, ws: ServerConnection) -> None:
        session = KrakenSession(
            ws, self.engine, self.config, self.ground_truth, next(self._connection_ids)
        )
        await session.run()
