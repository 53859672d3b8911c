"""Shared by the feed benchmarks: real frames recorded from the in-process exchange simulator.

Not a benchmark itself. :func:`record_frames` connects to a freshly started
:class:`~k2.local.exchange_simulator.ExchangeSimulator` exactly as the feed handler would
(Binance: the combined stream of ``@trade`` and ``@bookTicker`` with microsecond times; Kraken:
``KrakenFeed``'s own subscribe requests) and keeps the first ``count`` frames as received, control
frames (Kraken's status, acks and the 50-trade snapshot) included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import connect

from k2.domain.markets import Exchange
from k2.domain.timestamps import TimeUnit
from k2.feeds import binance, kraken
from k2.feeds.frames import ParsedFrame
from k2.feeds.kraken_feed import KrakenFeed
from k2.local.exchange_simulator import ExchangeSimulator, SimulatorConfig

Parser = Callable[[str, int], ParsedFrame[Any, Any]]


def quiet_logging() -> None:
    """k2.feeds (and the simulator) log every connection at INFO: keep the bench output clean."""
    logging.basicConfig(level=logging.WARNING)
    for name in ("k2", "websockets"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # kafka-python warns whenever its I/O thread waited >0.1 s for the GIL: expected here.
    logging.getLogger("kafka").setLevel(logging.ERROR)


def parser(exchange: Exchange) -> Parser:
    """The frame parser the handler's ``ExchangeFeed.parse`` calls, with the same arguments."""
    if exchange is Exchange.BINANCE:
        return lambda frame, received_at_us: binance.parse_frame(
            frame, received_at_us=received_at_us, time_unit=TimeUnit.MICROSECOND
        )
    return lambda frame, received_at_us: kraken.parse_frame(frame, received_at_us=received_at_us)


async def record_frames(exchange: Exchange, count: int, *, seed: int = 7) -> list[str]:
    """The first ``count`` frames one subscriber receives, the market running as fast as the
    subscriber drains it (``rate=0``)."""
    config = SimulatorConfig(seed=seed, rate=0, control_port=None)
    async with ExchangeSimulator(config) as sim:
        if exchange is Exchange.BINANCE:
            streams = [
                f"{symbol.lower()}@{kind}"
                for symbol in config.binance_symbols
                for kind in ("trade", "bookTicker")
            ]
            url = sim.binance_ws_url(streams, microseconds=True)
            requests: list[str] = []
        else:
            url = sim.kraken_ws_url
            feed = KrakenFeed(url, sim.kraken_rest_url, config.kraken_symbols)
            requests = feed.subscribe_requests()
        frames: list[str] = []
        # A short close timeout: at rate 0 the simulator's loop is busy making the next batch.
        async with connect(url, max_size=2**22, proxy=None, close_timeout=0.2) as ws:
            for request in requests:
                await ws.send(request)
            while len(frames) < count:
                message = await ws.recv()
                frames.append(message if isinstance(message, str) else message.decode())
    return frames
