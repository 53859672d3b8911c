"""Raw records into Kafka, framed by the Glue Schema Registry; unreadable frames into the DLQ.

Each exchange's trades and quotes go to ``market.crypto.{trades,quotes}.{exchange}.raw``, keyed
by the normalised symbol so one symbol's records keep their order in one partition. The
registry schema is named after the topic (the AWS serde's default naming). A delivery failure
(after the producer's own retries) is kept and re-raised by :meth:`raise_for_failures`: the
handler stops rather than carry on with a hole it cannot see.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from kafka import KafkaProducer

from k2.domain.markets import DataType, Exchange, dlq_topic, raw_topic
from k2.feeds.avro_records import RawRecord, avro_record, schema_name
from k2.feeds.avro_schemas import schema_definition
from k2.feeds.binance import BinanceRawQuote, BinanceRawTrade
from k2.feeds.exchange_feed import Clock
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.kraken import KrakenRawQuote, KrakenRawTrade
from k2.feeds.websocket_session import now_us

log = logging.getLogger(__name__)

RAW_SCHEMAS = {  # the schema names the raw record types declare
    (Exchange.BINANCE, DataType.TRADES): BinanceRawTrade.AVRO_SCHEMA,
    (Exchange.BINANCE, DataType.QUOTES): BinanceRawQuote.AVRO_SCHEMA,
    (Exchange.KRAKEN, DataType.TRADES): KrakenRawTrade.AVRO_SCHEMA,
    (Exchange.KRAKEN, DataType.QUOTES): KrakenRawQuote.AVRO_SCHEMA,
}

DLQ_KIND_HEADER = "k2-kind"
DLQ_REASON_HEADER = "k2-reason"


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge a record after every retry."""


@dataclass
class PublisherStats:
    """Counts and exchange-to-Kafka lags, updated from the producer's I/O thread."""

    sent: dict[str, int] = field(default_factory=dict)
    acknowledged: int = 0
    failed: int = 0
    lag_us: deque[int] = field(default_factory=lambda: deque(maxlen=100_000))


class MarketDataPublisher:
    """Serialises and sends one exchange's raw records; thread-safe acknowledgement accounting."""

    def __init__(
        self,
        producer: KafkaProducer,
        registry: GlueSchemaRegistry,
        exchange: Exchange,
        *,
        clock: Clock = now_us,
    ) -> None:
        self.exchange = exchange
        self.stats = PublisherStats()
        self._producer = producer
        self._registry = registry
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: list[BaseException] = []
        self._version_ids: dict[str, UUID] = {}
        self._topics = {data_type: raw_topic(data_type, exchange) for data_type in DataType}

    def prepare(self) -> dict[str, UUID]:
        """Register (or find) this exchange's raw schemas and learn its topics' partitions.

        Call before publishing: fetching topic metadata later would block the event loop
        inside ``send`` (for up to ``max_block_ms`` if the broker is away at that moment).
        """
        for topic in (*self._topics.values(), dlq_topic(self.exchange)):
            self._producer.partitions_for(topic)
        for data_type in DataType:
            name = RAW_SCHEMAS[(self.exchange, data_type)]
            topic = self._topics[data_type]
            self._version_ids[name] = self._registry.register(topic, schema_definition(name))
        return dict(self._version_ids)

    def publish(self, record: RawRecord, key: str, exchange_time_us: int | None) -> None:
        """Send one raw trade or quote; ``exchange_time_us`` feeds the lag metric."""
        name = schema_name(record)
        version_id = self._version_ids[name]
        topic = self._topics[DataType.TRADES if name.endswith("_trade") else DataType.QUOTES]
        value = self._registry.serialize(version_id, avro_record(record))
        self._send(topic, key.encode(), value, [], exchange_time_us)

    def publish_dead_letter(
        self, frame: bytes | str, *, kind: str, reason: str, received_at_us: int, connection: int
    ) -> None:
        """The frame, byte for byte, with why it was refused; nothing is dropped."""
        value = frame.encode() if isinstance(frame, str) else frame
        headers = [
            (DLQ_KIND_HEADER, kind.encode()),
            (DLQ_REASON_HEADER, reason.encode()[:4096]),
            ("k2-exchange", self.exchange.value.encode()),
            ("k2-received-at-us", str(received_at_us).encode()),
            ("k2-connection", str(connection).encode()),
        ]
        self._send(dlq_topic(self.exchange), None, value, headers, None)

    def publish_gap_record(self, exchange_symbol: str, first_id: int, last_id: int) -> None:
        """Trade ids the exchange no longer serves: recorded durably, never hidden."""
        body = {
            "exchange": self.exchange.value,
            "symbol": exchange_symbol,
            "first_trade_id": first_id,
            "last_trade_id": last_id,
            "missing": last_id - first_id + 1,
            "recorded_at_us": self._clock(),
        }
        headers = [
            (DLQ_KIND_HEADER, b"unfilled_trade_gap"),
            (DLQ_REASON_HEADER, b"trade ids missing from the stream and from REST history"),
            ("k2-exchange", self.exchange.value.encode()),
        ]
        self._send(dlq_topic(self.exchange), None, json.dumps(body).encode(), headers, None)

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything sent so far is acknowledged or failed."""
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Flush and close the producer (the handler has already drained)."""
        self._producer.close(timeout=timeout)

    def raise_for_failures(self) -> None:
        with self._lock:
            failures = list(self._failures)
        if failures:
            raise DeliveryError(f"{len(failures)} record(s) not delivered: {failures[0]!r}")

    def _send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]],
        exchange_time_us: int | None,
    ) -> None:
        future = self._producer.send(topic, key=key, value=value, headers=headers)
        self.stats.sent[topic] = self.stats.sent.get(topic, 0) + 1
        future.add_callback(self._acknowledged, exchange_time_us)
        future.add_errback(self._failed, topic)

    def _acknowledged(self, exchange_time_us: int | None, _metadata: Any) -> None:
        with self._lock:
            self.stats.acknowledged += 1
            if exchange_time_us is not None:
                self.stats.lag_us.append(self._clock() - exchange_time_us)

    def _failed(self, topic: str, error: BaseException) -> None:
        log.error("delivery to %s failed: %r", topic, error)
        with self._lock:
            self.stats.failed += 1
            self._failures.append(error)
