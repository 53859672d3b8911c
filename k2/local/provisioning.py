"""What `k2 local up` creates once the endpoints answer; every step is idempotent.

In AWS the CDK stacks create the same things; the names come from the same settings and the
topics from the same ``platform_topics()`` through the same ``k2.feeds.topic_admin``; the Athena
work group is configured like the Analytics stack's and holds the same named queries
(``k2.query.named_queries``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from k2.deployment.config import DeploymentConfig
from k2.domain.markets import Exchange, TopicSpec, platform_topics
from k2.feeds.topic_admin import ensure_topics
from k2.local.monitoring_provisioning import provision_monitoring
from k2.query.named_queries import named_queries
from k2.settings import K2Settings

ATHENA_ENGINE_VERSION = "Athena engine version 3"


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


def athena_work_group_configuration(settings: K2Settings) -> dict[str, Any]:
    """The research work group as the Analytics stack configures it: engine v3, results in the
    Athena results bucket (enforced), SSE-S3, CloudWatch metrics, the bytes-scanned cutoff."""
    return {
        "ResultConfiguration": {
            "OutputLocation": f"s3://{settings.athena_results_bucket}/results/",
            "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
        },
        "EnforceWorkGroupConfiguration": True,
        "PublishCloudWatchMetricsEnabled": True,
        "BytesScannedCutoffPerQuery": DeploymentConfig().athena_bytes_scanned_cutoff,
        "EngineVersion": {"SelectedEngineVersion": ATHENA_ENGINE_VERSION},
    }


def create_athena_work_group(athena: Any, settings: K2Settings) -> str:
    existing = {wg["Name"] for wg in athena.list_work_groups().get("WorkGroups", [])}
    if settings.athena_workgroup not in existing:
        athena.create_work_group(
            Name=settings.athena_workgroup,
            Description="K2 research SQL over the lakehouse (Iceberg tables in Glue)",
            Configuration=athena_work_group_configuration(settings),
        )
    return settings.athena_workgroup


def create_named_queries(
    athena: Any, settings: K2Settings, exchanges: tuple[Exchange, ...] = tuple(Exchange)
) -> list[str]:
    """The Analytics stack's named queries in the research work group, each created once (by
    name: Athena itself would accept duplicates)."""
    work_group = settings.athena_workgroup
    ids = [
        named_id
        for page in athena.get_paginator("list_named_queries").paginate(WorkGroup=work_group)
        for named_id in page.get("NamedQueryIds", [])
    ]
    existing = {
        named["Name"]
        for start in range(0, len(ids), 50)
        for named in athena.batch_get_named_query(NamedQueryIds=ids[start : start + 50])[
            "NamedQueries"
        ]
    }
    queries = named_queries(settings.glue_database, exchanges)
    for query in queries:
        if query.name not in existing:
            athena.create_named_query(
                Name=query.name,
                Description=query.description,
                Database=settings.glue_database,
                QueryString=query.sql,
                WorkGroup=work_group,
            )
    return [query.name for query in queries]


def create_monitoring(cloudwatch: Any, settings: K2Settings) -> dict[str, Any]:
    """The Observability stack's alarms and dashboard (``k2.local.monitoring_provisioning``)."""
    return provision_monitoring(cloudwatch, settings)
