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
