"""The Kafka topics custom resource against the local cloud's real broker.

The platform topics exist from ``k2 local up`` on, and other tests write to them, so most tests
run the handler on renamed copies of ``platform_topics()`` (same partitions and configs, fresh
names): Create then really creates them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from uuid import uuid4

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource

from k2.domain.markets import SEVEN_DAYS_MS, TopicSpec, platform_topics
from k2.feeds.kafka_producer import build_producer, send_all
from k2.local.cloud import LocalCloud
from k2.settings import K2Settings
from tests.functions.custom_resource_testkit import invoke, load_handler

pytestmark = pytest.mark.integration

FUNCTION = "kafka_topics"
CHECKED_CONFIGS = ("retention.ms", "cleanup.policy", "max.message.bytes")


@pytest.fixture(autouse=True)
def handler_environment(
    local_cloud: LocalCloud, k2_settings: K2Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the CDK gives the function, with the local broker's address and auth."""
    monkeypatch.setenv("K2_KAFKA_BOOTSTRAP_SERVERS", k2_settings.kafka_bootstrap_servers)
    monkeypatch.setenv("K2_KAFKA_AUTH", "plaintext")  # MSK's msk-iam needs MSK
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "k2-kafka-topics")


@pytest.fixture
def topics(monkeypatch: pytest.MonkeyPatch) -> list[TopicSpec]:
    """``platform_topics()`` under fresh names, as the handler sees them."""
    prefix = f"test.{uuid4().hex[:8]}."
    renamed = [replace(topic, name=prefix + topic.name) for topic in platform_topics()]
    monkeypatch.setattr(load_handler(FUNCTION), "platform_topics", lambda: list(renamed))
    return renamed


@pytest.fixture
def admin(k2_settings: K2Settings) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=k2_settings.kafka_bootstrap_servers)
    yield client
    client.close()


def _on_broker(admin: KafkaAdminClient, names: list[str]) -> dict[str, tuple[object, ...]]:
    """Partitions and the checked configs of each topic, read back from the broker."""
    described = {topic["name"]: topic for topic in admin.describe_topics(names)}
    configs = admin.describe_configs([ConfigResource("TOPIC", name) for name in names])["topic"]
    return {
        name: (
            len(described[name]["partitions"]),
            *(configs[name].get(key, {}).get("value") for key in CHECKED_CONFIGS),
        )
        for name in names
    }


def _eventually(read: Callable[[], object], expected: object, timeout_s: float = 15.0) -> object:
    """A config change reaches the broker's view through KRaft metadata, a moment later."""
    deadline = time.monotonic() + timeout_s
    while (seen := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return seen


def _wanted(topics: list[TopicSpec]) -> dict[str, tuple[object, ...]]:
    return {
        topic.name: (topic.partitions, *(topic.config.get(key) for key in CHECKED_CONFIGS))
        for topic in topics
    }


def _end_offsets(settings: K2Settings, names: list[str]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    try:
        partitions = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        offsets: dict[TopicPartition, int] = consumer.end_offsets(partitions)
        return offsets
    finally:
        consumer.close()


def test_create_makes_every_topic_with_its_partitions_and_retention(
    topics: list[TopicSpec], admin: KafkaAdminClient
) -> None:
    names = [topic.name for topic in topics]
    assert not set(names) & set(admin.list_topics())

    response = invoke(FUNCTION, "Create")

    assert response["PhysicalResourceId"] == "k2-local-kafka-topics"
    assert response["Data"] == {"Topics": ",".join(names)}
    on_broker = _on_broker(admin, names)
    assert on_broker == _wanted(topics)
    raw = next(topic for topic in topics if topic.name.endswith(".raw"))
    assert on_broker[raw.name][:2] == (6, str(SEVEN_DAYS_MS))  # the figures, not just the specs


def test_a_second_create_and_an_update_change_nothing_and_keep_the_records(
    topics: list[TopicSpec], admin: KafkaAdminClient, k2_settings: K2Settings
) -> None:
    names = [topic.name for topic in topics]
    physical_id = invoke(FUNCTION, "Create")["PhysicalResourceId"]
    producer = build_producer(k2_settings, client_id="k2-test")
    send_all(producer, names[0], [(b"BTCUSDT", b"a record")])
    producer.close()
    before = (_on_broker(admin, names), _end_offsets(k2_settings, names))

    again = invoke(FUNCTION, "Create")
    updated = invoke(FUNCTION, "Update", physical_id)

    assert again["PhysicalResourceId"] == updated["PhysicalResourceId"] == physical_id
    assert updated["Data"] == {"Topics": ",".join(names)}
    assert (_on_broker(admin, names), _end_offsets(k2_settings, names)) == before
    assert sum(before[1].values()) == 1


def test_update_brings_a_drifted_config_back_to_the_definition(
    topics: list[TopicSpec], admin: KafkaAdminClient
) -> None:
    physical_id = invoke(FUNCTION, "Create")["PhysicalResourceId"]
    drifted = topics[0].name
    admin.alter_configs([ConfigResource("TOPIC", drifted, configs={"retention.ms": "1234567"})])
    assert _eventually(lambda: _on_broker(admin, [drifted])[drifted][1], "1234567") == "1234567"

    invoke(FUNCTION, "Update", physical_id)

    wanted = {drifted: _wanted(topics)[drifted]}
    assert _eventually(lambda: _on_broker(admin, [drifted]), wanted) == wanted


def test_delete_keeps_the_topics_and_their_records(
    topics: list[TopicSpec], admin: KafkaAdminClient, k2_settings: K2Settings
) -> None:
    names = [topic.name for topic in topics]
    physical_id = invoke(FUNCTION, "Create")["PhysicalResourceId"]
    producer = build_producer(k2_settings, client_id="k2-test")
    send_all(producer, names[-1], [(b"binance", b"a dead letter")])
    producer.close()

    response = invoke(FUNCTION, "Delete", physical_id)

    assert response["PhysicalResourceId"] == physical_id
    assert set(names) <= set(admin.list_topics())
    assert _on_broker(admin, names) == _wanted(topics)
    assert sum(_end_offsets(k2_settings, names).values()) == 1


def test_on_the_platform_topics_themselves_create_is_a_no_op_that_agrees_with_up(
    admin: KafkaAdminClient,
) -> None:
    """``k2 local up`` created them through the same code, so the handler finds them right."""
    platform = platform_topics()
    names = [topic.name for topic in platform]
    before = _on_broker(admin, names)

    response = invoke(FUNCTION, "Create")

    assert response["Data"] == {"Topics": ",".join(names)}
    assert _on_broker(admin, names) == before == _wanted(platform)
