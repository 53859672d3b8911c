"""Read back a bounded slice of Kafka topics.

``end_offsets`` marks where a run starts, ``tail_offsets`` where the last N records of each
partition start; ``read_between`` returns every record from such marks up to the topics' end at
that moment. A restarted feed handler reads its topic's tail; reconciliations read a run.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from k2.feeds.kafka_security import kafka_python_security
from k2.settings import K2Settings

Offsets = dict[TopicPartition, int]


def _consumer(settings: K2Settings) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=1000,
        **kafka_python_security(settings),
    )


def _partitions(consumer: KafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    return [
        TopicPartition(topic, partition)
        for topic in topics
        for partition in sorted(consumer.partitions_for_topic(topic) or ())
    ]


def end_offsets(settings: K2Settings, topics: Iterable[str]) -> Offsets:
    """The next offset of every partition of ``topics`` (where a new run's records start)."""
    consumer = _consumer(settings)
    try:
        offsets: Offsets = consumer.end_offsets(_partitions(consumer, topics))
        return offsets
    finally:
        consumer.close()


def tail_offsets(settings: K2Settings, topics: Iterable[str], records: int) -> Offsets:
    """Where the last ``records`` records of every partition of ``topics`` start."""
    consumer = _consumer(settings)
    try:
        partitions = _partitions(consumer, topics)
        first = consumer.beginning_offsets(partitions)
        last = consumer.end_offsets(partitions)
        return {p: max(first[p], last[p] - records) for p in partitions}
    finally:
        consumer.close()


def read_between(
    settings: K2Settings, start: Offsets, *, timeout_s: float = 60.0
) -> list[ConsumerRecord]:
    """Every record from ``start`` to the current end of the same partitions."""
    consumer = _consumer(settings)
    try:
        stop = consumer.end_offsets(list(start))
        wanted = [partition for partition in start if stop[partition] > start[partition]]
        if not wanted:
            return []
        consumer.assign(wanted)
        for partition in wanted:
            consumer.seek(partition, start[partition])
        records: list[ConsumerRecord] = []
        remaining = set(wanted)
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for partition, batch in consumer.poll(timeout_ms=500).items():
                for record in batch:
                    if record.offset < stop[partition]:
                        records.append(record)
                if consumer.position(partition) >= stop[partition]:
                    remaining.discard(partition)
        if remaining:
            raise TimeoutError(f"could not read to the end of {sorted(map(str, remaining))}")
        return records
    finally:
        consumer.close()
