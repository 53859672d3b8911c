"""A minimal seeded Binance trade generator for the foundation slice.

It publishes ``BinanceRawTrade`` records, Avro framed by the Glue Schema Registry, to
``market.crypto.trades.binance.raw`` the way the feed handler will. The exchange simulator of the
feeds work replaces it as the source; the shape stays.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from k2.aws import aws_client
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.feeds.avro_schemas import schema_definition
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.kafka_producer import build_producer, send_all
from k2.settings import K2Settings

BINANCE_RAW_TRADE_SCHEMA = "binance_raw_trade"
START_PRICES = {"BTCUSDT": Decimal("67000.00"), "ETHUSDT": Decimal("3500.00")}
PRICE_TICK = Decimal("0.01")
QUANTITY_STEP = Decimal("0.00001")


@dataclass(frozen=True)
class PublishedRecord:
    symbol: str
    trade_id: int
    partition: int
    offset: int


def binance_trades(
    count: int, *, seed: int, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"), first_id: int = 1
) -> list[dict[str, Any]]:
    """``count`` raw trade records, round-robin over symbols, ids contiguous per symbol."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible market, not a secret
    prices = {symbol: START_PRICES.get(symbol, Decimal("100.00")) for symbol in symbols}
    next_ids = dict.fromkeys(symbols, first_id)
    now_us = time.time_ns() // 1000
    records = []
    for index in range(count):
        symbol = symbols[index % len(symbols)]
        prices[symbol] = max(PRICE_TICK, prices[symbol] + PRICE_TICK * rng.randint(-50, 50))
        quantity = QUANTITY_STEP * rng.randint(1, 200_000)
        trade_time = now_us - (count - index) * 1_000
        records.append(
            {
                "event_type": "trade",
                "event_time": trade_time + rng.randint(0, 500),
                "symbol": symbol,
                "trade_id": next_ids[symbol],
                "price": f"{prices[symbol]:.8f}",
                "quantity": f"{quantity:.8f}",
                "trade_time": trade_time,
                "is_buyer_maker": rng.random() < 0.5,
                "is_best_match": True,
                "ingestion_timestamp": now_us,
            }
        )
        next_ids[symbol] += 1
    return records


def publish_binance_trades(
    settings: K2Settings, records: list[dict[str, Any]]
) -> list[PublishedRecord]:
    registry = GlueSchemaRegistry(aws_client("glue", settings), settings.schema_registry_name)
    topic = raw_topic(DataType.TRADES, Exchange.BINANCE)
    version_id = registry.register(topic, schema_definition(BINANCE_RAW_TRADE_SCHEMA))
    producer = build_producer(settings, client_id="k2-binance-trade-generator")
    try:
        metadata = send_all(
            producer,
            topic,
            [(r["symbol"].encode(), registry.serialize(version_id, r)) for r in records],
        )
    finally:
        producer.close()
    return [
        PublishedRecord(r["symbol"], r["trade_id"], m.partition, m.offset)
        for r, m in zip(records, metadata, strict=True)
    ]
