"""Simulator → feed handlers → Kafka → bronze → silver → gold, against the ground truth.

Real parts throughout: the exchange simulator with faults, both feed handlers, the broker, Spark
with Iceberg on the Glue catalog. Gold must hold every trade the markets made exactly once with
every field equal, and ``silver_dlq`` exactly the bad records put into the raw topics, each with
the reason its rule gives. Re-running the jobs, and re-merging silver into gold, changes nothing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from k2.aws import aws_client
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.feeds.avro_records import avro_record
from k2.feeds.binance import BinanceRawTrade
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.kafka_producer import build_producer
from k2.feeds.kraken import KrakenRawQuote
from k2.feeds.market_data_publisher import MarketDataPublisher
from k2.feeds.topic_reader import end_offsets
from k2.jobs.gold import gold_table, merge_into_gold
from k2.lake.tables import silver_table
from k2.local.exchange_simulator import (
    ExchangeSimulator,
    FaultKind,
    FaultRequest,
    SimulatorConfig,
)
from k2.settings import K2Settings
from tests.feeds.feed_testkit import run_handlers, simulator_handlers
from tests.jobs.medallion_testkit import as_comparable, gold_trades, made_trades, run_jobs

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration

NOW_US = 1_795_000_000_000_000


def _feed_the_topics(settings: K2Settings, ground_truth: Path) -> None:
    async def scenario() -> None:
        config = SimulatorConfig(
            seed=31, rate=100, ground_truth=ground_truth, wait_for_subscriber=True
        )
        async with ExchangeSimulator(config) as sim:
            handlers = simulator_handlers(sim, settings, stale_after_s=1.5, resume_from_kafka=False)

            async def faults() -> None:
                await asyncio.sleep(1.0)
                for fault in (FaultKind.SKIP, FaultKind.DUPLICATE, FaultKind.DISCONNECT):
                    sim.inject(FaultRequest(fault, count=10))
                    await asyncio.sleep(1.0)
                sim.clear_faults()
                await asyncio.sleep(2.0)
                sim.pause_markets()
                await asyncio.sleep(1.0)

            await run_handlers(handlers, faults())

    asyncio.run(scenario())


def _publish_bad_records(settings: K2Settings) -> dict[tuple[str, int, int], tuple[str, str]]:
    """Records that pass Kafka but not silver: (topic, partition, offset) → (class, reason)."""
    registry = GlueSchemaRegistry(aws_client("glue", settings), settings.schema_registry_name)
    producer = build_producer(settings, client_id="k2-test-bad-records")
    expected: dict[tuple[str, int, int], tuple[str, str]] = {}
    try:
        binance = MarketDataPublisher(producer, registry, Exchange.BINANCE)
        kraken = MarketDataPublisher(producer, registry, Exchange.KRAKEN)
        binance.prepare()
        kraken.prepare()
        negative_price = BinanceRawTrade(
            "trade", NOW_US, "BTCUSDT", 7, "-1.00", "0.5", NOW_US, False, True, NOW_US
        )
        crossed = KrakenRawQuote(
            "BTC/USD",
            "101.0",
            "1",
            "100.0",
            "1",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            "update",
            NOW_US,
        )
        topic = raw_topic(DataType.TRADES, Exchange.BINANCE)
        sends = [
            (
                topic,
                producer.send(topic, key=b"BTCUSDT", value=b"not a framed record"),
                ("decode", "not_framed"),
            ),
            (
                topic,
                producer.send(
                    topic,
                    key=b"BTCUSDT",
                    value=registry.serialize(
                        binance.prepare()["binance_raw_trade"], avro_record(negative_price)
                    ),
                ),
                ("validate", "non_positive_price"),
            ),
        ]
        quotes = raw_topic(DataType.QUOTES, Exchange.KRAKEN)
        sends.append(
            (
                quotes,
                producer.send(
                    quotes,
                    key=b"BTCUSD",
                    value=registry.serialize(
                        kraken.prepare()["kraken_raw_quote"], avro_record(crossed)
                    ),
                ),
                ("validate", "crossed_book"),
            )
        )
        producer.flush()
        for topic_name, future, reason in sends:
            metadata = future.get(timeout=30)
            expected[(topic_name, metadata.partition, metadata.offset)] = reason
    finally:
        producer.close()
    return expected


def test_gold_holds_exactly_the_trades_the_markets_made(
    spark: SparkSession, k2_settings: K2Settings, tmp_path: Path
) -> None:
    ground_truth = tmp_path / "ground_truth.jsonl"
    topics = [raw_topic(t, e) for t in DataType for e in Exchange]
    start = end_offsets(k2_settings, topics)
    _feed_the_topics(k2_settings, ground_truth)
    bad = _publish_bad_records(k2_settings)
    run_jobs(spark, k2_settings)

    made = made_trades(ground_truth)
    gold = gold_trades(spark, k2_settings)
    keys = Counter((row["exchange"], row["symbol"], row["trade_id"]) for row in gold)
    assert max(keys.values()) == 1  # gold never holds a trade twice, whatever ran before
    made_keys = {(t.exchange, t.symbol, t.trade_id) for t in made}
    ours = [t for t in map(as_comparable, gold) if (t.exchange, t.symbol, t.trade_id) in made_keys]
    assert sorted(ours, key=str) == sorted(made, key=str)

    dlq = spark.table(f"glue_catalog.{k2_settings.glue_database}.silver_dlq").collect()
    in_run = {
        (row["topic"], row["partition"], row["offset"]): (row["reason_class"], row["reason"])
        for row in dlq
        if any(
            tp.topic == row["topic"]
            and tp.partition == row["partition"]
            and row["offset"] >= offset
            for tp, offset in start.items()
        )
    }
    assert in_run == bad

    # Running everything again, and merging all of silver into gold again, changes nothing.
    run_jobs(spark, k2_settings)
    for exchange in Exchange:
        silver = spark.table(
            silver_table(exchange, DataType.TRADES).spark_identifier(k2_settings.glue_database)
        )
        merge_into_gold(silver, gold_table(DataType.TRADES), k2_settings.glue_database)
    assert sorted(map(str, gold_trades(spark, k2_settings))) == sorted(map(str, gold))
