"""The local broker is a real Kafka: consumer groups, committed offsets, a restart in between."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from k2.domain.markets import TopicSpec, platform_topics
from k2.feeds.kafka_producer import build_producer, send_all
from k2.local import java_artifacts, kafka_broker
from k2.local.cloud import KAFKA, LocalCloud
from k2.local.layout import LocalCloudLayout
from k2.local.provisioning import create_topics
from k2.settings import K2Settings

pytestmark = pytest.mark.integration

TOPIC = "k2.test.broker-restart"
GROUP = "k2-test-restart"


def _consumer(settings: K2Settings) -> KafkaConsumer:
    return KafkaConsumer(
        TOPIC,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
    )


def _take(consumer: KafkaConsumer, count: int) -> list[bytes]:
    values: list[bytes] = []
    for message in consumer:
        values.append(message.value)
        if len(values) == count:
            break
    return values


def test_platform_topics_exist_with_their_partitions(
    local_cloud: LocalCloud, k2_settings: K2Settings
) -> None:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=k2_settings.kafka_bootstrap_servers)
    try:
        described = {
            t["name"]: t for t in admin.describe_topics([t.name for t in platform_topics()])
        }
    finally:
        admin.close()
    for spec in platform_topics():
        assert len(described[spec.name]["partitions"]) == spec.partitions, spec.name


def test_committed_offsets_and_data_survive_a_broker_restart(
    local_cloud: LocalCloud, k2_settings: K2Settings
) -> None:
    create_topics(k2_settings, [TopicSpec(TOPIC, 1, {"retention.ms": "3600000"})])
    produced = [f"message-{index}".encode() for index in range(100)]
    producer = build_producer(k2_settings, client_id="k2-test")
    send_all(producer, TOPIC, [(b"key", value) for value in produced])
    producer.close()

    consumer = _consumer(k2_settings)
    first_half = _take(consumer, 40)
    consumer.commit()
    committed = consumer.committed(TopicPartition(TOPIC, 0))
    consumer.close()
    assert first_half == produced[:40]
    assert committed == 40

    local_cloud.restart(KAFKA)

    consumer = _consumer(k2_settings)
    rest = _take(consumer, 60)
    consumer.close()
    assert rest == produced[40:]


def test_a_cluster_id_starting_with_a_dash_formats(local_cloud: LocalCloud, tmp_path: Path) -> None:
    """Random ids are base64url, so 1 in 64 starts with "-"; the storage tool must not read it
    as an option (it did: `expected one argument`, a fresh cloud failing to start)."""
    layout = LocalCloudLayout(
        local_cloud.layout.settings.model_copy(update={"state_dir": tmp_path / "state"})
    )
    layout.ensure()
    layout.kafka_dir.mkdir(parents=True, exist_ok=True)
    (layout.kafka_dir / "cluster-id").write_text("-Ab3dEfGhIjKlMnOpQrStU")
    classpath = f"{java_artifacts.ensure_bundle(java_artifacts.KAFKA_BROKER, layout.jars_cache)}/*"
    config = kafka_broker.write_config(layout)
    kafka_broker.format_storage_once(layout, kafka_broker.java_executable(), classpath, config)
    meta = (layout.kafka_data / "meta.properties").read_text()
    assert "cluster.id=-Ab3dEfGhIjKlMnOpQrStU" in meta
