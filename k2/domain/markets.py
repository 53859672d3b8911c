"""The exchanges and data types K2 captures, and the Kafka topics that carry them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Exchange(StrEnum):
    BINANCE = "binance"
    KRAKEN = "kraken"


class DataType(StrEnum):
    TRADES = "trades"
    QUOTES = "quotes"


SEVEN_DAYS_MS = 7 * 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """A Kafka topic with the settings it is created with, locally and on MSK."""

    name: str
    partitions: int
    config: dict[str, str]


def raw_topic(data_type: DataType, exchange: Exchange) -> str:
    return f"market.crypto.{data_type}.{exchange}.raw"


def dlq_topic(exchange: Exchange) -> str:
    return f"market.crypto.{exchange}.dlq"


MAX_FRAME_BYTES = 4 * 2**20
"""The largest WebSocket frame a feed handler accepts (a larger one closes the connection, 1009)."""
MAX_RECORD_BYTES = 2 * MAX_FRAME_BYTES
"""The largest Kafka record K2 writes: a dead-lettered frame of ``MAX_FRAME_BYTES`` plus headers.
Kafka's default (1 MiB) would refuse such a record, so the DLQ topics and the producer raise it."""

# Partitions: symbol-keyed, a handful of symbols per exchange; 6 leaves room to grow without
# re-keying. DLQ topics keep a month because someone has to look at them.
RAW_TOPIC_PARTITIONS = 6
DLQ_TOPIC_PARTITIONS = 1
_RAW_CONFIG = {
    "retention.ms": str(SEVEN_DAYS_MS),
    "cleanup.policy": "delete",
    "compression.type": "producer",
    "min.insync.replicas": "1",
}
_DLQ_CONFIG = {
    **_RAW_CONFIG,
    "retention.ms": str(4 * SEVEN_DAYS_MS),
    "max.message.bytes": str(MAX_RECORD_BYTES),
}


def platform_topics() -> list[TopicSpec]:
    """Every topic of DESIGN.md §1: raw trades and quotes per exchange, plus a DLQ per exchange."""
    topics = [
        TopicSpec(raw_topic(data_type, exchange), RAW_TOPIC_PARTITIONS, dict(_RAW_CONFIG))
        for exchange in Exchange
        for data_type in DataType
    ]
    topics += [
        TopicSpec(dlq_topic(exchange), DLQ_TOPIC_PARTITIONS, dict(_DLQ_CONFIG))
        for exchange in Exchange
    ]
    return topics
