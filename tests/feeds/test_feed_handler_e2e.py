"""Both feed handlers against the exchange simulator and the real broker, with every fault.

The simulator's ground-truth log is the independent record of every trade the markets made;
Kafka must hold exactly those trades (none missing, none twice, every field equal) plus one DLQ
record per malformed frame the simulator sent. A second run restarts the broker mid-stream.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka.consumer.fetcher import ConsumerRecord

from k2.aws import aws_client
from k2.domain.markets import DataType, Exchange, dlq_topic, raw_topic
from k2.feeds.feed_handler import FeedCounters
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.topic_reader import end_offsets, read_between
from k2.local.cloud import LocalCloud
from k2.local.exchange_simulator import (
    ExchangeSimulator,
    FaultKind,
    FaultRequest,
    SimulatorConfig,
)
from k2.local.exchange_simulator.faults import MalformedKind
from k2.local.feed_reconciliation import ground_truth_trade, published_trade
from k2.settings import K2Settings
from tests.feeds.feed_testkit import drain_markets, run_handlers, simulator_handlers

pytestmark = pytest.mark.integration

TOPICS = [raw_topic(data_type, exchange) for data_type in DataType for exchange in Exchange] + [
    dlq_topic(exchange) for exchange in Exchange
]

# Every fault the simulator can inject, on both exchanges, a second apart.
FAULTS: list[FaultRequest] = [
    FaultRequest(FaultKind.SKIP, count=25),
    FaultRequest(FaultKind.DUPLICATE, count=10),
    *(FaultRequest(FaultKind.MALFORMED, kind=kind, count=2) for kind in MalformedKind),
    FaultRequest(FaultKind.DISCONNECT),
    FaultRequest(FaultKind.SKIP, count=5),
    FaultRequest(FaultKind.SERVER_SHUTDOWN),
    FaultRequest(FaultKind.STALL, duration=3.0),
    FaultRequest(FaultKind.DUPLICATE, count=5),
]


@dataclass
class FeedRun:
    ground_truth: list[dict[str, Any]]
    fault_counts: dict[str, dict[str, int]]
    malformed_frames: list[dict[str, str]]
    records: list[ConsumerRecord]
    counters: dict[Exchange, FeedCounters]


async def _run_feeds(
    settings: K2Settings, tmp_path: Path, seed: int, mid_run: Callable[[], Awaitable[None]] | None
) -> FeedRun:
    ground_truth = tmp_path / "ground_truth.jsonl"
    start = end_offsets(settings, TOPICS)
    config = SimulatorConfig(
        seed=seed,
        rate=150,
        ground_truth=ground_truth,
        wait_for_subscriber=True,
        stall_duration=3.0,
        shutdown_grace=0.3,
    )
    async with ExchangeSimulator(config) as sim:
        handlers = simulator_handlers(
            sim,
            settings,
            stale_after_s=1.5,
            backoff_initial_s=0.1,
            backfill_retry_delay_s=0.2,
            rotation_overlap_timeout_s=2.0,
            resume_from_kafka=False,  # each run is its own market; see the restart test
        )

        async def faults() -> None:
            await asyncio.sleep(1.0)
            for request in FAULTS:
                sim.inject(request)
                await asyncio.sleep(1.0)
            if mid_run is not None:
                await mid_run()
            sim.clear_faults()
            await drain_markets(sim, handlers)

        counters = await run_handlers(handlers, faults())
    return FeedRun(
        ground_truth=[json.loads(line) for line in ground_truth.read_text().splitlines()],
        fault_counts=json.loads(
            ground_truth.with_name(ground_truth.name + ".counts.json").read_text()
        ),
        malformed_frames=[
            json.loads(line)
            for line in ground_truth.with_name(ground_truth.name + ".malformed.jsonl")
            .read_text()
            .splitlines()
        ],
        records=read_between(settings, start),
        counters=counters,
    )


def _assert_kafka_matches_ground_truth(run: FeedRun, settings: K2Settings) -> None:
    registry = GlueSchemaRegistry(aws_client("glue", settings), settings.schema_registry_name)
    for exchange in Exchange:
        topic = raw_topic(DataType.TRADES, exchange)
        published = [
            published_trade(exchange, registry.deserialize(record.value)[1])
            for record in run.records
            if record.topic == topic
        ]
        ids = Counter((trade.symbol, trade.trade_id) for trade in published)
        assert [key for key, n in ids.items() if n > 1] == [], f"{exchange}: trades published twice"
        truth = [
            ground_truth_trade(line) for line in run.ground_truth if line["exchange"] == exchange
        ]
        assert any(not line["on_wire"] for line in run.ground_truth if line["exchange"] == exchange)
        for symbol in {trade.symbol for trade in truth}:
            sent = sorted((t for t in published if t.symbol == symbol), key=lambda t: t.trade_id)
            made = sorted((t for t in truth if t.symbol == symbol), key=lambda t: t.trade_id)
            assert sent, f"{exchange} {symbol}: nothing published"
            # Every trade the market made is in Kafka, exactly once and field for field.
            assert sent == made
        keys = {record.key.decode() for record in run.records if record.topic == topic}
        assert keys == (
            {"BTCUSDT", "ETHUSDT"} if exchange is Exchange.BINANCE else {"BTCUSD", "ETHUSD"}
        )
        quotes = [r for r in run.records if r.topic == raw_topic(DataType.QUOTES, exchange)]
        assert quotes, f"{exchange}: no quotes"


def _assert_one_dead_letter_per_malformed_frame(run: FeedRun) -> None:
    for exchange in Exchange:
        dead_letters = [
            record
            for record in run.records
            if record.topic == dlq_topic(exchange)
            and dict(record.headers).get("k2-kind") == b"malformed_frame"
        ]
        sent = [m["frame"] for m in run.malformed_frames if m["exchange"] == exchange]
        assert len(sent) == run.fault_counts["malformed_frames"][exchange] > 0
        assert Counter(record.value.decode() for record in dead_letters) == Counter(sent)


def test_every_fault_ends_with_kafka_equal_to_ground_truth(
    k2_settings: K2Settings, tmp_path: Path
) -> None:
    run = asyncio.run(_run_feeds(k2_settings, tmp_path, seed=11, mid_run=None))

    _assert_kafka_matches_ground_truth(run, k2_settings)
    _assert_one_dead_letter_per_malformed_frame(run)
    for exchange, counters in run.counters.items():
        assert counters.duplicate_trades > 0, exchange  # duplicates arrived and were dropped
        assert counters.trades_backfilled > 0, exchange  # skipped ids came back from REST
        assert counters.unfilled_trade_ids == 0, exchange
    assert run.fault_counts["stalls"] == {"binance": 1, "kraken": 1}


def test_a_broker_restart_mid_stream_loses_nothing(
    k2_settings: K2Settings, local_cloud: LocalCloud, tmp_path: Path
) -> None:
    async def restart_broker() -> None:
        await asyncio.to_thread(local_cloud.restart, "kafka")

    run = asyncio.run(_run_feeds(k2_settings, tmp_path, seed=12, mid_run=restart_broker))

    _assert_kafka_matches_ground_truth(run, k2_settings)
    _assert_one_dead_letter_per_malformed_frame(run)
