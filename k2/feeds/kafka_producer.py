"""The Kafka producer every feed uses: durable, idempotent, keyed by normalised symbol."""

from __future__ import annotations

from typing import Any

from kafka import KafkaProducer

from k2.domain.markets import MAX_RECORD_BYTES
from k2.feeds.kafka_security import kafka_python_security
from k2.settings import K2Settings


def build_producer(settings: K2Settings, *, client_id: str = "k2-feed") -> KafkaProducer:
    """``acks=all`` + idempotence: a retried send is written once, in order, per partition."""
    return KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        compression_type="lz4",
        linger_ms=5,
        retries=2_147_483_647,
        delivery_timeout_ms=120_000,
        max_in_flight_requests_per_connection=5,
        max_request_size=MAX_RECORD_BYTES,  # a dead-lettered frame can be that large
        **kafka_python_security(settings),
    )


def send_all(producer: KafkaProducer, topic: str, records: list[tuple[bytes, bytes]]) -> list[Any]:
    """Send (key, value) pairs and wait for every acknowledgement; raises on any delivery error."""
    futures = [producer.send(topic, key=key, value=value) for key, value in records]
    producer.flush()
    return [future.get(timeout=30) for future in futures]
