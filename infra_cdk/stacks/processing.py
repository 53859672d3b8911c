"""The Spark jobs and their schedules: bronze → silver → gold catch-up runs, OHLCV every few
minutes, daily table maintenance.

The same scripts (``glue_jobs/``) run on AWS Glue 5.1 (the default) or EMR Serverless (the
alternative, ``engine: emr-serverless``); Step Functions state machines run them in order with
retries, and EventBridge Scheduler starts the state machines. A run that finds the previous one
of the same job still going ends quietly: the next scheduled run catches up.
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Aws, Duration, Environment, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra_cdk.log_retention import log_retention
from infra_cdk.nag import acknowledge, finding_resource
from infra_cdk.spark_job_artifacts import SparkJobArtifacts, build_spark_job_artifacts
from infra_cdk.spark_runners import EmrServerlessRunner, GlueRunner, SparkRunner
from infra_cdk.stacks.lakehouse import LakehouseStack
from infra_cdk.stacks.network import NetworkStack
from infra_cdk.stacks.streaming import TOPIC_PREFIX, StreamingStack
from k2.deployment.config import DeploymentConfig, Engine

ARTIFACTS_PREFIX = "spark-jobs"
_COLON_ARN = ArnFormat.COLON_RESOURCE_NAME


class ProcessingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        network: NetworkStack,
        streaming: StreamingStack,
        lakehouse: LakehouseStack,
        artifacts: SparkJobArtifacts | None = None,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env)
        self.config = config
        artifacts = artifacts or build_spark_job_artifacts()
        self.artifacts_bucket = lakehouse.bucket_in(
            self, "ArtifactsBucket", lakehouse.artifacts_bucket_name
        )
        deployment = s3deploy.BucketDeployment(
            self,
            "UploadArtifacts",
            sources=[s3deploy.Source.asset(str(artifacts.directory))],
            destination_bucket=self.artifacts_bucket,
            destination_key_prefix=ARTIFACTS_PREFIX,
            prune=True,
            retain_on_delete=False,
        )
        self.role = self._job_role(config, network, streaming, lakehouse)
        settings_arguments = job_settings(streaming, lakehouse)
        root = f"s3://{self.artifacts_bucket.bucket_name}/{ARTIFACTS_PREFIX}"
        engine = GlueRunner if config.engine is Engine.GLUE else EmrServerlessRunner
        runner: SparkRunner = engine(
            self, config, network, root, artifacts, settings_arguments, self.role
        )
        self.runner = runner
        runner.node.add_dependency(deployment)
        self.pipeline = self._state_machine(
            "Pipeline", [runner.stage_task(stage, config) for stage in ("bronze", "silver", "gold")]
        )
        self.ohlcv = self._state_machine("Ohlcv", [runner.stage_task("ohlcv", config)])
        self.maintenance = self._state_machine(
            "Maintenance", [runner.stage_task("maintenance", config)]
        )
        self.state_machines = {
            "pipeline": self.pipeline,
            "ohlcv": self.ohlcv,
            "maintenance": self.maintenance,
        }
        self._schedules(config)
        self._acknowledge_cdk_helpers()

    # -- roles -------------------------------------------------------------------------------

    def _job_role(
        self,
        config: DeploymentConfig,
        network: NetworkStack,
        streaming: StreamingStack,
        lakehouse: LakehouseStack,
    ) -> iam.Role:
        role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("glue.amazonaws.com"),
                iam.ServicePrincipal("emr-serverless.amazonaws.com"),
            ),
            description="K2 Spark jobs: read Kafka, write the lake, read the registry",
        )
        self.artifacts_bucket.grant_read(role, f"{ARTIFACTS_PREFIX}/*")
        role.add_to_policy(lakehouse.catalog_statement(write=True))
        lakehouse.grant_warehouse(role, write=True)
        lakehouse.acknowledge_catalog_tables(role)
        checkpoints = lakehouse.bucket_in(
            self, "CheckpointsBucket", lakehouse.checkpoints_bucket_name
        )
        checkpoints.grant_read_write(role)
        role.add_to_policy(streaming.cluster_connect_statement())
        topics = streaming.topic_arn(f"{TOPIC_PREFIX}*")
        groups = streaming.group_arn("*")
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"],
                resources=[topics],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"],
                resources=[groups],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["glue:GetSchemaVersion", "glue:GetSchema"],
                resources=[
                    lakehouse.registry_arn,
                    self.format_arn(
                        service="glue",
                        resource="schema",
                        resource_name=f"{lakehouse.registry_name}/*",
                    ),
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[
                    self.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws-glue/*",
                        arn_format=_COLON_ARN,
                    ),
                    self.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="/aws/emr-serverless/*",
                        arn_format=_COLON_ARN,
                    ),
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:PutMetricData"],
                resources=["*"],
                conditions={"StringLike": {"cloudwatch:namespace": ["Glue", "K2"]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "ec2:CreateNetworkInterface",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeVpcEndpoints",
                    "ec2:DescribeRouteTables",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeVpcAttribute",
                    "ec2:CreateTags",
                    "ec2:DeleteTags",
                    "glue:GetConnection",
                ],
                resources=["*"],
            )
        )
        self._acknowledge_job_role(role, topics, groups, lakehouse)
        return role

    def _acknowledge_job_role(
        self, role: iam.Role, topics: str, groups: str, lakehouse: LakehouseStack
    ) -> None:
        scoped = {
            topics: "K2's own topics (market.crypto.*) of this cluster",
            groups: "the consumer groups Spark's Kafka source creates (generated names) on "
            "K2's own cluster",
            self.format_arn(
                service="glue", resource="schema", resource_name=f"{lakehouse.registry_name}/*"
            ): "the schemas of K2's own registry",
            self.format_arn(
                service="logs",
                resource="log-group",
                resource_name="/aws-glue/*",
                arn_format=_COLON_ARN,
            ): "the log groups Glue writes job logs to",
            self.format_arn(
                service="logs",
                resource="log-group",
                resource_name="/aws/emr-serverless/*",
                arn_format=_COLON_ARN,
            ): "the log groups EMR Serverless writes job logs to",
        }
        for resource, why in scoped.items():
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::{finding_resource(role, resource)}]",
                f"Scoped to {why}.",
            )
        artifacts = finding_resource(
            role, self.artifacts_bucket.arn_for_objects(f"{ARTIFACTS_PREFIX}/*")
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{artifacts}]",
            "Read-only access to this deployment's uploaded job artifacts (scripts, wheel, jars).",
        )
        checkpoints = finding_resource(
            role, f"arn:{Aws.PARTITION}:s3:::{lakehouse.checkpoints_bucket_name}/*"
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{checkpoints}]",
            "Structured Streaming checkpoints: files with generated names in the checkpoints "
            "bucket, which holds nothing else.",
        )
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            "ENI management for jobs in the VPC and cloudwatch:PutMetricData (limited by a "
            "namespace condition) support no resource-level permissions.",
        )

    # -- state machines and schedules ------------------------------------------------------

    def _state_machine(self, name: str, stages: list[sfn.IChainable]) -> sfn.StateMachine:
        definition: sfn.IChainable = stages[0]
        chain = sfn.Chain.start(stages[0])
        for stage in stages[1:]:
            chain = chain.next(stage)
        definition = chain
        log_group = logs.LogGroup(
            self, f"{name}Logs", retention=log_retention(self.config.retention.log_days)
        )
        machine = sfn.StateMachine(
            self,
            name,
            state_machine_name=self.config.resource_name(name.lower()),
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL),
            timeout=Duration.hours(6),
        )
        for statement in self.runner.state_machine_statements:
            machine.add_to_role_policy(statement)
        return machine

    def _schedules(self, config: DeploymentConfig) -> None:
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal("scheduler.amazonaws.com"),
            description="EventBridge Scheduler: start K2's scheduled Spark runs",
        )
        expressions = {
            "pipeline": f"rate({config.schedules.pipeline_minutes} minutes)",
            "ohlcv": f"rate({config.schedules.ohlcv_minutes} minutes)",
            "maintenance": f"cron(0 {config.schedules.maintenance_cron_hour_utc} * * ? *)",
        }
        for name, machine in self.state_machines.items():
            machine.grant_start_execution(role)
            scheduler.CfnSchedule(
                self,
                f"{name.title()}Schedule",
                name=config.resource_name(name),
                description=f"Start the K2 {name} run",
                schedule_expression=expressions[name],
                schedule_expression_timezone="UTC",
                flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                target=scheduler.CfnSchedule.TargetProperty(
                    arn=machine.state_machine_arn,
                    role_arn=role.role_arn,
                    retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                        maximum_retry_attempts=3, maximum_event_age_in_seconds=600
                    ),
                ),
            )

    def _acknowledge_cdk_helpers(self) -> None:
        acknowledge(
            self,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK's BucketDeployment function: its CDK-generated role only writes its own logs.",
        )
        acknowledge(
            self,
            "AwsSolutions-L1",
            "CDK's BucketDeployment and auto-delete functions: their runtimes are chosen by the "
            "CDK release.",
        )
        # the bootstrap bucket, named with the stack's account and region (tokens or literals)
        assets = f"arn:{Aws.PARTITION}:s3:::cdk-hnb659fds-assets-{self.account}-{self.region}/*"
        artifacts = self.artifacts_bucket.arn_for_objects("*")
        for finding in (
            "Action::s3:GetObject*",
            "Action::s3:GetBucket*",
            "Action::s3:List*",
            "Action::s3:DeleteObject*",
            "Action::s3:Abort*",
            "Resource::*",
            f"Resource::{finding_resource(self, assets)}",
            f"Resource::{finding_resource(self, artifacts)}",
        ):
            acknowledge(
                self,
                f"AwsSolutions-IAM5[{finding}]",
                "CDK's BucketDeployment copies the synthesized artifacts into the artifacts "
                "bucket; its grants are CDK's action groups on the asset and artifacts buckets.",
            )


def job_settings(streaming: StreamingStack, lakehouse: LakehouseStack) -> dict[str, str]:
    """``K2Settings`` for the jobs as ``--K2_<FIELD>`` job arguments (Glue sets no env vars)."""
    environment = {**lakehouse.settings_environment(), **streaming.settings_environment()}
    return {f"--{name}": value for name, value in environment.items()}
