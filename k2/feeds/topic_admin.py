"""Create the platform's Kafka topics, or bring existing ones to their settings, idempotently.

One function for the local cloud (``k2 local up``) and for AWS (the CDK custom resource
``functions/kafka_topics``): missing topics are created with their partitions and config, topics
already there get their config set again (a cluster created before a setting was added takes it
up), and nothing is ever deleted. Partition counts of existing topics are left alone: adding
partitions would move symbols to other partitions and break per-symbol ordering.

The two clusters accept different things, so :func:`topic_rules` picks the rules from
``kafka_auth``:

* **local broker** (plaintext): replication factor 1, every config of the ``TopicSpec``.
* **MSK** (msk-iam): replication is the service's business, so the request leaves it to the
  cluster's default (-1, CreateTopics v4+). MSK Serverless lets a client set only
  ``cleanup.policy`` (at creation only), ``compression.type``, ``max.message.bytes`` (at most
  8 MiB), ``message.timestamp.difference.max.ms``, ``message.timestamp.type``,
  ``retention.bytes`` and ``retention.ms``
  (https://docs.aws.amazon.com/msk/latest/developerguide/serverless-config.html). Any other key,
  e.g. ``min.insync.replicas`` (MSK keeps three replicas and sets it itself), is dropped, and
  ``cleanup.policy`` is sent on creation but not on later updates. The same subset is safe on a
  provisioned MSK cluster with IAM auth, where MSK's own defaults are the stricter ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kafka.admin import ConfigResource, KafkaAdminClient

from k2.domain.markets import TopicSpec
from k2.feeds.kafka_security import kafka_python_security
from k2.settings import K2Settings, KafkaAuth

log = logging.getLogger(__name__)

MSK_SERVERLESS_MAX_MESSAGE_BYTES = 8 * 2**20
MSK_SERVERLESS_TOPIC_CONFIGS = frozenset(
    {
        "cleanup.policy",
        "compression.type",
        "max.message.bytes",
        "message.timestamp.difference.max.ms",
        "message.timestamp.type",
        "retention.bytes",
        "retention.ms",
    }
)
"""The topic configs MSK Serverless lets a client set; it refuses every other key."""


@dataclass(frozen=True)
class TopicRules:
    """What one kind of cluster accepts in CreateTopics and IncrementalAlterConfigs."""

    replication_factor: int
    """-1: the cluster's default (Kafka 2.4+)."""
    settable: frozenset[str] | None = None
    """Config keys a client may set; None: any."""
    creation_only: frozenset[str] = frozenset()
    """Config keys that may be set when a topic is created but not changed afterwards."""
    max_message_bytes: int | None = None

    def creation_configs(self, topic: TopicSpec) -> dict[str, str]:
        """``topic.config`` as this cluster accepts it at creation."""
        configs = {
            key: value
            for key, value in topic.config.items()
            if self.settable is None or key in self.settable
        }
        limit = self.max_message_bytes
        if limit is not None and int(configs.get("max.message.bytes", 0)) > limit:
            raise ValueError(
                f"{topic.name}: max.message.bytes={configs['max.message.bytes']} is above the "
                f"cluster's maximum of {limit}"
            )
        return configs

    def update_configs(self, topic: TopicSpec) -> dict[str, str]:
        """``topic.config`` as this cluster accepts it on an existing topic."""
        configs = self.creation_configs(topic)
        return {key: value for key, value in configs.items() if key not in self.creation_only}


LOCAL_BROKER_RULES = TopicRules(replication_factor=1)
MSK_SERVERLESS_RULES = TopicRules(
    replication_factor=-1,
    settable=MSK_SERVERLESS_TOPIC_CONFIGS,
    creation_only=frozenset({"cleanup.policy"}),
    max_message_bytes=MSK_SERVERLESS_MAX_MESSAGE_BYTES,
)


def topic_rules(settings: K2Settings) -> TopicRules:
    if KafkaAuth(settings.kafka_auth) is KafkaAuth.MSK_IAM:
        return MSK_SERVERLESS_RULES
    return LOCAL_BROKER_RULES


class TopicConfigRefused(Exception):  # noqa: N818 - says what happened, like Kafka's own errors
    """The cluster refused to set a config on an existing topic."""


def ensure_topics(
    settings: K2Settings, topics: Iterable[TopicSpec], rules: TopicRules | None = None
) -> list[str]:
    """Create the missing ``topics``, set the config of the present ones; their names, in order.

    ``rules`` defaults to the cluster's (see :func:`topic_rules`). Raises if the cluster refuses
    a creation or a config."""
    topics = list(topics)
    rules = rules or topic_rules(settings)
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id="k2-provisioning",
        **kafka_python_security(settings),
    )
    try:
        existing = set(admin.list_topics())
        missing = {
            topic.name: {
                "num_partitions": topic.partitions,
                "replication_factor": rules.replication_factor,
                "configs": rules.creation_configs(topic),
            }
            for topic in topics
            if topic.name not in existing
        }
        if missing:
            admin.create_topics(missing, wait_for_metadata=True)
            log.info("created topics %s", ", ".join(missing))
        present = [topic for topic in topics if topic.name in existing]
        updates = [
            ConfigResource("TOPIC", topic.name, configs=configs)
            for topic in present
            if (configs := rules.update_configs(topic))
        ]
        if updates:  # an older cluster's topics take up settings added since
            _raise_refusals(admin.alter_configs(updates))
            log.info("set the config of topics %s", ", ".join(u.name for u in updates))
    finally:
        admin.close()
    return [topic.name for topic in topics]


def _raise_refusals(results: Mapping[str, Mapping[str, str]]) -> None:
    """kafka-python returns a refused alteration as a string instead of raising it."""
    refused = {
        name: result
        for by_name in results.values()
        for name, result in by_name.items()
        if result != "OK"
    }
    if refused:
        raise TopicConfigRefused(
            "; ".join(f"{name}: {result}" for name, result in sorted(refused.items()))
        )
