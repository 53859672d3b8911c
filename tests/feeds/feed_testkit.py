"""Both feed handlers pointed at an in-process exchange simulator, run while a script runs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from k2.domain.markets import Exchange
from k2.feeds.feed_handler import FeedCounters, FeedHandler
from k2.feeds.feed_service import build_handler
from k2.feeds.feed_settings import FeedSettings
from k2.local.exchange_simulator import ExchangeSimulator
from k2.local.exchange_simulator.engine import now_us
from k2.settings import K2Settings

Handlers = dict[Exchange, FeedHandler[Any, Any]]


def simulator_handlers(sim: ExchangeSimulator, settings: K2Settings, **overrides: Any) -> Handlers:
    """A ready handler per exchange; ``overrides`` are ``FeedSettings`` fields."""
    return {
        exchange: build_handler(
            FeedSettings(
                exchange=exchange,
                binance_ws_url=f"ws://127.0.0.1:{sim.binance_port}",
                binance_rest_url=sim.binance_rest_url,
                kraken_ws_url=sim.kraken_ws_url,
                kraken_rest_url=sim.kraken_rest_url,
                **overrides,
            ),
            settings,
        )
        for exchange in Exchange
    }


async def run_handlers(handlers: Handlers, script: Awaitable[None]) -> dict[Exchange, FeedCounters]:
    """Run every handler while ``script`` runs, then stop them (drain + flush) and close."""
    stop = asyncio.Event()
    tasks = {exchange: asyncio.create_task(h.run(stop)) for exchange, h in handlers.items()}
    try:
        await script
    finally:
        stop.set()
        counters = {exchange: await task for exchange, task in tasks.items()}
        for handler in handlers.values():
            handler.publisher.close()
    return counters


async def drain_markets(
    sim: ExchangeSimulator, handlers: Handlers, timeout: float = 60.0, nudge_after: float = 10.0
) -> None:
    """Stop the markets, then wait until every handler has published every trade they made.

    A busy machine can leave seconds of frames in flight (simulator send queues, sockets, the
    handlers' queues); waiting on the trade ids instead of a fixed sleep keeps the comparison
    with the ground truth exact. Trades lost with a replaced connection right before the pause
    are a gap only the *next* trade reveals (as on a real exchange, where the next trade always
    comes): a handler still short after ``nudge_after`` seconds gets a few more market events per
    exchange, so it sees the gap and backfills it. On timeout it returns, and the comparison
    shows what is missing.
    """
    sim.pause_markets()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    nudge_at = loop.time() + nudge_after
    while loop.time() < deadline:
        last_made = sim.stats()["next_trade_id"]
        if all(
            (watermark := handlers[exchange].sequences[symbol].watermark) is not None
            and watermark >= next_id - 1
            for exchange in handlers
            for symbol, next_id in last_made[exchange.value].items()
        ):
            return
        if loop.time() >= nudge_at:
            for engine in sim.engines.values():
                for _ in range(8):  # each event is on a random symbol: reach every one
                    engine.step(now_us())
            nudge_at = loop.time() + nudge_after
        await asyncio.sleep(0.1)
