"""The freshness check in AWS: the k2 image's ``freshness_handler`` Lambda, started every minute.

The freshness alarms (one per exchange, missing data breaching) read ``K2 GoldTradeAge``; this
function is what writes it (``k2.jobs.freshness``). It prints EMF to stdout and CloudWatch Logs
extracts the metric, so its role only reads: the gold trades table's Glue entry and the
warehouse's files. Outside the VPC like the query API: it talks only to Glue and S3.

One run at a time (reserved concurrency 1) and no catch-up: a run that cannot start within a
minute is dropped, because the next one measures the same thing more recently.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from infra_cdk.functions_image import (
    FRESHNESS_HANDLER,
    acknowledge_unscoped_actions,
    function_image,
)
from infra_cdk.log_retention import log_retention
from infra_cdk.nag import acknowledge, finding_resource
from infra_cdk.stacks.lakehouse import LakehouseStack
from k2.deployment.config import DeploymentConfig
from k2.lake.tables import gold_trades_table
from k2.monitoring.metrics import FRESHNESS_SERVICE

SCHEDULE = "rate(1 minute)"
"""As often as the alarms' 60 s period: one datapoint per period per exchange."""
TIMEOUT_SECONDS = 60
MEMORY_MIB = 1024
WAREHOUSE_PREFIX = "warehouse"


class FreshnessCheck(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        lakehouse: LakehouseStack,
    ) -> None:
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(self, "Logs", retention=log_retention(config.retention.log_days))
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="K2 freshness check: read the gold trades table, write its own logs",
        )
        log_group.grant_write(self.role)
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            function_name=config.resource_name("freshness"),
            description="Emit K2 GoldTradeAge per exchange (k2.jobs.freshness)",
            code=function_image(FRESHNESS_HANDLER),
            role=self.role,
            memory_size=MEMORY_MIB,
            timeout=Duration.seconds(TIMEOUT_SECONDS),
            reserved_concurrent_executions=1,
            retry_attempts=0,
            max_event_age=Duration.seconds(60),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={
                **lakehouse.settings_environment(),
                "K2_FRESHNESS_EXCHANGES": json.dumps([e.value for e in config.exchanges]),
                "POWERTOOLS_SERVICE_NAME": FRESHNESS_SERVICE,
                "POWERTOOLS_METRICS_NAMESPACE": "K2",
            },
        )
        self._grant_reads(lakehouse)
        self.schedule = self._schedule(config)

    def _grant_reads(self, lakehouse: LakehouseStack) -> None:
        """What ``load_table`` and a scan use: Glue GetTable on the one table (Glue checks the
        catalog and database ARNs too), then GetObject of metadata, manifests and data files."""
        stack = Stack.of(self)
        table = gold_trades_table().name
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["glue:GetTable"],
                resources=[
                    stack.format_arn(service="glue", resource="catalog"),
                    stack.format_arn(
                        service="glue", resource="database", resource_name=lakehouse.database_name
                    ),
                    stack.format_arn(
                        service="glue",
                        resource="table",
                        resource_name=f"{lakehouse.database_name}/{table}",
                    ),
                ],
            )
        )
        bucket = f"arn:{Aws.PARTITION}:s3:::{lakehouse.lake_bucket_name}"
        warehouse_objects = f"{bucket}/{WAREHOUSE_PREFIX}/*"
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[warehouse_objects])
        )
        # Listing only under the prefix; with it, a missing file is a 404, not a 403.
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket],
                conditions={
                    "StringLike": {"s3:prefix": [WAREHOUSE_PREFIX, f"{WAREHOUSE_PREFIX}/*"]}
                },
            )
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{finding_resource(self.role, warehouse_objects)}]",
            "Read-only GetObject of Iceberg metadata and data files, whose names are generated, "
            "under the lake bucket's warehouse prefix.",
        )
        acknowledge_unscoped_actions(self.role, in_vpc=False)

    def _schedule(self, config: DeploymentConfig) -> scheduler.CfnSchedule:
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="EventBridge Scheduler: start the K2 freshness check",
        )
        # the function's own ARN only (grant_invoke would add its versions, ARN:*)
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:InvokeFunction"], resources=[self.function.function_arn]
            )
        )
        return scheduler.CfnSchedule(
            self,
            "Schedule",
            name=config.resource_name("freshness"),
            description="Run the K2 freshness check (GoldTradeAge per exchange)",
            schedule_expression=SCHEDULE,
            schedule_expression_timezone="UTC",
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.function.function_arn,
                role_arn=role.role_arn,
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=0, maximum_event_age_in_seconds=60
                ),
            ),
        )
