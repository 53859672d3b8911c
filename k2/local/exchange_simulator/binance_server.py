"""The simulated Binance endpoint: combined/raw streams over WebSocket and REST backfill.

One port serves both, as ``websockets`` lets a plain HTTP request be answered before the
upgrade: ``/stream?streams=...`` and ``/ws/<stream>`` upgrade to WebSocket, ``/api/v3/...`` gets
a REST answer. Like Binance, the server pings every ``ping_interval`` and drops a connection
whose pong does not come back within ``ping_timeout``; connections end at ``max_lifetime``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from k2.domain.markets import Exchange

from . import binance_protocol as bp
from .config import SimulatorConfig
from .engine import ExchangeEngine, MalformedOut, QuoteOut, TradesOut, WireEvent, now_us
from .ground_truth import GroundTruthLog
from .rest import json_response
from .session import BaseSession


class BinanceSession(BaseSession):
    exchange = Exchange.BINANCE

    def __init__(
        self,
        ws: ServerConnection,
        engine: ExchangeEngine,
        config: SimulatorConfig,
        ground_truth: GroundTruthLog,
        request: bp.StreamRequest,
    ) -> None:
        super().__init__(ws, engine, config, ground_truth)
        self.streams = set(request.streams)
        self.combined = request.combined
        self.microseconds = request.microseconds
        self._last_trade_frame: str | None = None
        if self.streams:
            engine.mark_subscribed()

    def deliver(self, event: WireEvent) -> None:
        if isinstance(event, TradesOut):
            name = bp.stream_name(event.symbol, bp.TRADE)
            if name in self.streams:
                event_time = now_us()
                for trade in event.trades:
                    payload = bp.trade_payload(
                        trade, event_time_us=event_time, microseconds=self.microseconds
                    )
                    self._last_trade_frame = bp.frame(name, payload, combined=self.combined)
                    self.enqueue(self._last_trade_frame)
        elif isinstance(event, QuoteOut):
            name = bp.stream_name(event.quote.symbol, bp.BOOK_TICKER)
            if name in self.streams:
                payload = bp.book_ticker_payload(event.quote)
                self.enqueue(bp.frame(name, payload, combined=self.combined))
        elif isinstance(event, MalformedOut) and self.streams:
            text = bp.malformed_frame(
                event.kind, event.symbol, self._last_trade_frame, self.combined
            )
            self.enqueue(text, malformed=event.kind.value)

    def shutdown_notice(self) -> str | None:
        return bp.server_shutdown_frame(
            event_time_us=now_us(), combined=self.combined, microseconds=self.microseconds
        )

    def background(self) -> list[Coroutine[Any, Any, None]]:
        return [self._pinger()]

    async def on_message(self, message: str | bytes) -> None:
        """Live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS, answered as Binance does."""
        try:
            request = json.loads(message)
        except ValueError:
            self.enqueue(json.dumps({"code": 3, "msg": "Invalid JSON"}), force=True)
            return
        if not isinstance(request, dict) or "method" not in request:
            self.enqueue(
                json.dumps({"code": 2, "msg": "Invalid request: missing field `method`"}),
                force=True,
            )
            return
        method, request_id = request.get("method"), request.get("id")
        params = request.get("params", [])
        if method == "LIST_SUBSCRIPTIONS":
            reply = {"result": sorted(self.streams), "id": request_id}
        elif method in ("SUBSCRIBE", "UNSUBSCRIBE") and isinstance(params, list):
            try:
                for name in params:
                    bp.validate_stream(str(name), self.engine.markets)
            except bp.BinanceRequestError as error:
                reply = {"code": 2, "msg": f"Invalid request: {error.msg}", "id": request_id}
            else:
                if method == "SUBSCRIBE":
                    self.streams.update(str(name) for name in params)
                    self.engine.mark_subscribed()
                else:
                    self.streams.difference_update(str(name) for name in params)
                reply = {"result": None, "id": request_id}
        else:
            reply = {"code": 2, "msg": f"Invalid request: unknown variant {method}"}
        self.enqueue(json.dumps(reply), force=True)

    async def _pinger(self) -> None:
        """Ping every interval; no pong within the timeout ends the connection."""
        sequence = 0
        while True:
            await asyncio.sleep(self.config.ping_interval)
            if self.stalled:
                continue
            sequence += 1
            pong = await self.ws.ping(str(sequence).encode())
            try:
                await asyncio.wait_for(pong, self.config.ping_timeout)
            except TimeoutError:
                await self.ws.close(1008, "pong timeout")
                return


class BinanceEndpoint:
    """The ``websockets`` hooks for the Binance port."""

    def __init__(
        self, engine: ExchangeEngine, config: SimulatorConfig, ground_truth: GroundTruthLog
    ) -> None:
        self.engine = engine
        self.config = config
        self.ground_truth = ground_truth

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """REST answers and URL validation, before any WebSocket upgrade."""
        if request.path.startswith("/api/"):
            status, body = bp.rest_response(
                request.path, request.headers.get("X-MBX-TIME-UNIT"), self.engine.histories
            )
            return json_response(status, body)
        if not bp.is_stream_path(request.path):
            return json_response(404, bp.BinanceRequestError(-1000, "Not found").body())
        try:
            bp.parse_stream_path(request.path, self.engine.markets)
        except bp.BinanceRequestError as error:
            return json_response(400, error.body())
        return None

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None  # set once the handshake is done
        stream_request = bp.parse_stream_path(ws.request.path, self.engine.markets)
        session = BinanceSession(ws, self.engine, self.config, self.ground_truth, stream_request)
        await session.run()
