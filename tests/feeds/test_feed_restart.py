"""A restarted feed handler (a deployment, a crash) resumes from what Kafka already holds.

Handler A runs, stops; the market goes on with no handler for a while; handler B starts, reads
the tail of the trades topics and must publish exactly the trades Kafka is missing: the ones
made during the outage (backfilled from REST), none of the ones A already published.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from k2.aws import aws_client
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.feeds.feed_handler import FeedCounters
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.topic_reader import end_offsets, read_between
from k2.local.exchange_simulator import ExchangeSimulator, SimulatorConfig
from k2.local.feed_reconciliation import ground_truth_trade, published_trade
from k2.settings import K2Settings
from tests.feeds.feed_testkit import run_handlers, simulator_handlers

pytestmark = pytest.mark.integration

# Symbols no other test publishes, so the topics' tails hold only this test's trades for them.
BINANCE_SYMBOLS = ("SOLUSDT", "XRPUSDT")
KRAKEN_SYMBOLS = ("SOL/USD", "XRP/USD")


async def _run_for(
    settings: K2Settings, sim: ExchangeSimulator, seconds: float
) -> dict[Exchange, FeedCounters]:
    handlers = simulator_handlers(
        sim,
        settings,
        binance_symbols=BINANCE_SYMBOLS,
        kraken_symbols=KRAKEN_SYMBOLS,
        backfill_retry_delay_s=0.2,
    )
    return await run_handlers(handlers, asyncio.sleep(seconds))


def test_a_restarted_handler_publishes_exactly_what_the_outage_missed(
    k2_settings: K2Settings, tmp_path: Path
) -> None:
    ground_truth = tmp_path / "ground_truth.jsonl"
    topics = [raw_topic(DataType.TRADES, exchange) for exchange in Exchange]
    start = end_offsets(k2_settings, topics)

    async def scenario() -> tuple[dict[Exchange, FeedCounters], dict[Exchange, FeedCounters]]:
        config = SimulatorConfig(
            seed=21,
            rate=100,
            ground_truth=ground_truth,
            binance_symbols=BINANCE_SYMBOLS,
            kraken_symbols=KRAKEN_SYMBOLS,
        )
        async with ExchangeSimulator(config) as sim:
            first = await _run_for(k2_settings, sim, 3.0)
            await asyncio.sleep(2.0)  # the outage: the market goes on, nobody listens
            second = await _run_for(k2_settings, sim, 4.0)
        return first, second

    first, second = asyncio.run(scenario())

    registry = GlueSchemaRegistry(aws_client("glue", k2_settings), k2_settings.schema_registry_name)
    records = read_between(k2_settings, start)
    made = [ground_truth_trade(json.loads(line)) for line in ground_truth.read_text().splitlines()]
    for exchange in Exchange:
        published = [
            published_trade(exchange, registry.deserialize(record.value)[1])
            for record in records
            if record.topic == raw_topic(DataType.TRADES, exchange)
        ]
        for symbol in BINANCE_SYMBOLS if exchange is Exchange.BINANCE else KRAKEN_SYMBOLS:
            sent = [t for t in published if t.symbol == symbol]
            ids = Counter(t.trade_id for t in sent)
            assert max(ids.values()) == 1, f"{exchange} {symbol}: published twice"
            window = [
                t
                for t in made
                if t.exchange is exchange
                and t.symbol == symbol
                and min(ids) <= t.trade_id <= max(ids)
            ]
            assert sorted(sent, key=lambda t: t.trade_id) == window
        # The outage was a gap for B, filled from REST (a fresh start would have left it out of
        # Kafka, and the window above would miss it), and A's trades were not published again.
        assert second[exchange].gaps_detected >= 1
        assert second[exchange].trades_backfilled > 0
        assert second[exchange].unfilled_trade_ids == 0
        assert first[exchange].trades_published > 0
