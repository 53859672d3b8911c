"""Athena for ad-hoc SQL: a workgroup on engine v3 with an enforced result location, encryption
and a per-query bytes-scanned cutoff, and the named queries of ``k2.query.named_queries``."""

from __future__ import annotations

from aws_cdk import Environment, Stack
from aws_cdk import aws_athena as athena
from constructs import Construct

from infra_cdk.stacks.lakehouse import LakehouseStack
from k2.deployment.config import DeploymentConfig
from k2.query.named_queries import named_queries

ENGINE_VERSION = "Athena engine version 3"


class AnalyticsStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        lakehouse: LakehouseStack,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env)
        self.workgroup_name = config.resource_name("research")
        workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.workgroup_name,
            description="K2 research SQL over the lakehouse (Iceberg tables in Glue)",
            recursive_delete_option=True,
            state="ENABLED",
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                engine_version=athena.CfnWorkGroup.EngineVersionProperty(
                    selected_engine_version=ENGINE_VERSION
                ),
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=config.athena_bytes_scanned_cutoff,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{lakehouse.athena_results_bucket_name}/results/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
        )
        for query in named_queries(lakehouse.database_name, config.exchanges):
            named = athena.CfnNamedQuery(
                self,
                f"Query-{query.name}",
                name=query.name,
                description=query.description,
                database=lakehouse.database_name,
                query_string=query.sql,
                work_group=workgroup.name,
            )
            named.add_dependency(workgroup)
