"""Topic creation for the local broker and for MSK Serverless: what each is sent, and (on the
real local broker) that creation and re-runs do what they say."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from uuid import uuid4

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource

from k2.domain.markets import MAX_RECORD_BYTES, TopicSpec, platform_topics
from k2.feeds.topic_admin import (
    LOCAL_BROKER_RULES,
    MSK_SERVERLESS_RULES,
    TopicConfigRefused,
    ensure_topics,
    topic_rules,
)
from k2.local.cloud import LocalCloud
from k2.settings import K2Settings

RAW = next(topic for topic in platform_topics() if topic.name.endswith(".raw"))
DLQ = next(topic for topic in platform_topics() if topic.name.endswith(".dlq"))


# --- what each cluster is sent ----------------------------------------------------------------


@pytest.mark.unit
def test_the_auth_picks_the_rules() -> None:
    assert topic_rules(K2Settings()) is LOCAL_BROKER_RULES
    assert topic_rules(K2Settings(kafka_auth="msk-iam")) is MSK_SERVERLESS_RULES


@pytest.mark.unit
def test_the_local_broker_gets_every_config_and_one_replica() -> None:
    assert LOCAL_BROKER_RULES.replication_factor == 1
    assert LOCAL_BROKER_RULES.creation_configs(DLQ) == DLQ.config
    assert LOCAL_BROKER_RULES.update_configs(DLQ) == DLQ.config


@pytest.mark.unit
def test_msk_serverless_gets_only_what_it_lets_a_client_set() -> None:
    """min.insync.replicas is MSK's (three replicas, its own setting); cleanup.policy can only be
    set when a topic is created; replication is left to the cluster."""
    assert MSK_SERVERLESS_RULES.replication_factor == -1
    assert MSK_SERVERLESS_RULES.creation_configs(DLQ) == {
        "retention.ms": DLQ.config["retention.ms"],
        "cleanup.policy": "delete",
        "compression.type": "producer",
        "max.message.bytes": str(MAX_RECORD_BYTES),
    }
    assert MSK_SERVERLESS_RULES.update_configs(DLQ) == {
        "retention.ms": DLQ.config["retention.ms"],
        "compression.type": "producer",
        "max.message.bytes": str(MAX_RECORD_BYTES),
    }
    assert "min.insync.replicas" in RAW.config
    assert "min.insync.replicas" not in MSK_SERVERLESS_RULES.creation_configs(RAW)


@pytest.mark.unit
def test_a_record_size_above_msk_serverless_maximum_is_refused_before_asking() -> None:
    assert MAX_RECORD_BYTES <= 8 * 2**20  # the DLQ's records fit MSK Serverless's maximum
    too_big = TopicSpec("big", 1, {"max.message.bytes": str(8 * 2**20 + 1)})
    with pytest.raises(ValueError, match=r"big: max\.message\.bytes=8388609 is above"):
        MSK_SERVERLESS_RULES.creation_configs(too_big)
    assert LOCAL_BROKER_RULES.creation_configs(too_big) == too_big.config


# --- on the real broker -----------------------------------------------------------------------


@pytest.fixture
def admin(local_cloud: LocalCloud, k2_settings: K2Settings) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=k2_settings.kafka_bootstrap_servers)
    yield client
    client.close()


def _fresh(topic: TopicSpec) -> TopicSpec:
    return TopicSpec(f"test.{uuid4().hex[:8]}.{topic.name}", topic.partitions, dict(topic.config))


def _configs(admin: KafkaAdminClient, name: str) -> dict[str, str]:
    """The topic-level configs set on the topic, as the broker reports them."""
    described = admin.describe_configs([ConfigResource("TOPIC", name)])["topic"][name]
    return {key: entry["value"] for key, entry in described.items()}


def _eventually_configs(
    admin: KafkaAdminClient, name: str, expected: dict[str, str], timeout_s: float = 15.0
) -> dict[str, str]:
    """A config change reaches the broker's view through KRaft metadata, a moment later."""
    deadline = time.monotonic() + timeout_s
    while (seen := _configs(admin, name)) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return seen


@pytest.mark.integration
def test_locally_every_config_is_set_and_a_rerun_restores_a_drifted_one(
    admin: KafkaAdminClient, k2_settings: K2Settings
) -> None:
    topic = _fresh(DLQ)
    assert ensure_topics(k2_settings, [topic]) == [topic.name]
    (described,) = admin.describe_topics([topic.name])
    assert len(described["partitions"]) == topic.partitions
    assert _configs(admin, topic.name) == topic.config

    drifted = topic.config | {"retention.ms": "60000"}
    admin.alter_configs([ConfigResource("TOPIC", topic.name, configs={"retention.ms": "60000"})])
    assert _eventually_configs(admin, topic.name, drifted) == drifted
    ensure_topics(k2_settings, [topic])
    assert _eventually_configs(admin, topic.name, topic.config) == topic.config


@pytest.mark.integration
def test_with_msk_serverless_rules_the_dropped_configs_stay_at_the_cluster_default(
    admin: KafkaAdminClient, k2_settings: K2Settings
) -> None:
    """The MSK path, run against the local broker (plaintext): -1 replicas is the broker's
    default, and re-runs do not send the creation-only cleanup.policy."""
    topic = _fresh(RAW)
    ensure_topics(k2_settings, [topic], MSK_SERVERLESS_RULES)
    (described,) = admin.describe_topics([topic.name])
    assert len(described["partitions"]) == topic.partitions
    assert _configs(admin, topic.name) == MSK_SERVERLESS_RULES.creation_configs(topic)
    assert "min.insync.replicas" not in _configs(admin, topic.name)

    ensure_topics(k2_settings, [topic], MSK_SERVERLESS_RULES)
    assert _configs(admin, topic.name) == MSK_SERVERLESS_RULES.creation_configs(topic)


@pytest.mark.integration
def test_a_config_the_broker_refuses_fails_loudly(k2_settings: K2Settings) -> None:
    """kafka-python hands back a refused alteration as a string; ensure_topics raises it."""
    topic = _fresh(RAW)
    ensure_topics(k2_settings, [topic])
    wrong = TopicSpec(topic.name, topic.partitions, {"retention.ms": "not-a-number"})
    with pytest.raises(TopicConfigRefused, match=re.escape(topic.name)):
        ensure_topics(k2_settings, [wrong])
