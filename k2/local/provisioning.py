"""What `k2 local up` creates once the endpoints answer; every step is idempotent.

In AWS the CDK stacks create the same things; the names come from the same settings and the
topics from the same ``platform_topics()`` through the same ``k2.feeds.topic_admin``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from k2.domain.markets import TopicSpec, platform_topics
from k2.feeds.topic_admin import ensure_topics
from k2.settings import K2Settings


def create_buckets(s3: Any, settings: K2Settings) -> list[str]:
    existing = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    wanted = [settings.lake_bucket, settings.checkpoints_bucket, settings.athena_results_bucket]
    for bucket in wanted:
        if bucket not in existing:
            s3.create_bucket(Bucket=bucket)
    return wanted


def create_glue_database(glue: Any, settings: K2Settings) -> str:
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_database(
            DatabaseInput={
                "Name": settings.glue_database,
                "Description": "K2 lakehouse: bronze, silver and gold Iceberg tables",
                "LocationUri": settings.warehouse,
            }
        )
    return settings.glue_database


def create_schema_registry(glue: Any, settings: K2Settings) -> str:
    with contextlib.suppress(glue.exceptions.AlreadyExistsException):
        glue.create_registry(
            RegistryName=settings.schema_registry_name,
            Description="Avro schemas of the K2 Kafka topics",
        )
    return settings.schema_registry_name


def create_topics(settings: K2Settings, topics: list[TopicSpec] | None = None) -> list[str]:
    """Create the missing topics with explicit partitions and retention; existing ones are kept
    (their config is set again). The same code as the AWS custom resource's."""
    return ensure_topics(settings, platform_topics() if topics is None else topics)
