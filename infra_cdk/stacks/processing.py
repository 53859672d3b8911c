"""The Spark jobs and their schedules: bronze → silver → gold catch-up runs, OHLCV every few
minutes, daily table maintenance.

The same scripts (``glue_jobs/``) run on AWS Glue 5.1 (the default) or EMR Serverless (the
alternative, ``engine: emr-serverless``); Step Functions state machines run them in order with
retries, and EventBridge Scheduler starts the state machines. A run that finds the previous one
of the same job still going ends quietly: the next scheduled run catches up.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import ArnFormat, Aws, Duration, Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_emrserverless as emrs
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_deployment as s3deploy
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra_cdk.log_retention import log_retention
from infra_cdk.nag import acknowledge, finding_resource
from infra_cdk.spark_job_artifacts import SparkJobArtifacts, build_spark_job_artifacts
from infra_cdk.stacks.lakehouse import LakehouseStack
from infra_cdk.stacks.network import NetworkStack
from infra_cdk.stacks.streaming import TOPIC_PREFIX, StreamingStack
from k2.deployment.config import DeploymentConfig, Engine
from k2.domain.markets import DataType

GLUE_VERSION = "5.1"
EMR_RELEASE = "emr-7.12.0"
ARTIFACTS_PREFIX = "spark-jobs"
STAGES = ("bronze", "silver", "gold", "ohlcv", "maintenance")
_COLON_ARN = ArnFormat.COLON_RESOURCE_NAME
EMR_ICEBERG_JAR = "/usr/share/aws/iceberg/lib/iceberg-spark3-runtime.jar"
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
EMR_PYTHON_ENVIRONMENT = "python/k2-pyenv.tar.gz"


def stage_runs(config: DeploymentConfig, stage: str) -> list[dict[str, str]]:
    """The run arguments of one stage in a pipeline run: bronze and silver once per (exchange,
    data type), gold once per data type, OHLCV and maintenance once."""
    if stage in ("bronze", "silver"):
        return [
            {"--exchange": str(exchange), "--data-type": str(data_type)}
            for exchange in config.exchanges
            for data_type in DataType
        ]
    if stage == "gold":
        return [{"--data-type": str(data_type)} for data_type in DataType]
    return [{}]


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
        self.state_machine_role_statements: list[iam.PolicyStatement] = []
        settings_arguments = job_settings(config, streaming, lakehouse)
        runner: GlueRunner | EmrServerlessRunner
        if config.engine is Engine.GLUE:
            runner = GlueRunner(self, config, network, artifacts, settings_arguments, self.role)
        else:
            runner = EmrServerlessRunner(
                self, config, network, artifacts, settings_arguments, self.role
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
        for statement in self.state_machine_role_statements:
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


def job_settings(
    config: DeploymentConfig, streaming: StreamingStack, lakehouse: LakehouseStack
) -> dict[str, str]:
    """``K2Settings`` for the jobs as ``--K2_<FIELD>`` job arguments (Glue sets no env vars)."""
    return {
        "--K2_ENVIRONMENT": config.environment,
        "--K2_REGION": Aws.REGION,
        "--K2_KAFKA_BOOTSTRAP_SERVERS": streaming.bootstrap_servers,
        "--K2_KAFKA_AUTH": "msk-iam",
        "--K2_GLUE_DATABASE": lakehouse.database_name,
        "--K2_SCHEMA_REGISTRY_NAME": lakehouse.registry_name,
        "--K2_LAKE_BUCKET": lakehouse.lake_bucket_name,
        "--K2_CHECKPOINTS_BUCKET": lakehouse.checkpoints_bucket_name,
    }


class SparkRunner(Construct):
    """Turns each stage into Step Functions states; the engines differ only in how one run
    starts (``_run``)."""

    def __init__(
        self,
        stack: ProcessingStack,
        construct_id: str,
        artifacts: SparkJobArtifacts,
        settings_arguments: dict[str, str],
        role: iam.Role,
    ) -> None:
        super().__init__(stack, construct_id)
        self.root = f"s3://{stack.artifacts_bucket.bucket_name}/{ARTIFACTS_PREFIX}"
        self.artifacts = artifacts
        self.settings_arguments = settings_arguments
        self.role = role

    def stage_task(self, stage: str, config: DeploymentConfig) -> sfn.IChainable:
        """One state per run of the stage; several run in parallel."""
        branches = [self._run(stage, arguments) for arguments in stage_runs(config, stage)]
        if len(branches) == 1:
            return branches[0]
        parallel = sfn.Parallel(self, f"{stage.title()}Runs", result_path=sfn.JsonPath.DISCARD)
        for branch in branches:
            parallel.branch(branch)
        return parallel

    def _run(self, stage: str, arguments: dict[str, str]) -> sfn.IChainable:
        raise NotImplementedError

    @staticmethod
    def _state_name(stage: str, arguments: dict[str, str]) -> str:
        return f"{stage.title()} {'-'.join(arguments.values()) or 'all'}"


class GlueRunner(SparkRunner):
    """One Glue 5.1 job per stage; a stage's runs differ only in their run arguments."""

    def __init__(
        self,
        stack: ProcessingStack,
        config: DeploymentConfig,
        network: NetworkStack,
        artifacts: SparkJobArtifacts,
        settings_arguments: dict[str, str],
        role: iam.Role,
    ) -> None:
        super().__init__(stack, "Glue", artifacts, settings_arguments, role)
        root = self.root
        subnet = network.vpc.private_subnets[0]
        subnet_resource = subnet.node.default_child
        assert isinstance(subnet_resource, ec2.CfnSubnet)
        connection = glue.CfnConnection(
            self,
            "VpcConnection",
            catalog_id=Aws.ACCOUNT_ID,
            connection_input=glue.CfnConnection.ConnectionInputProperty(
                name=config.resource_name("vpc"),
                connection_type="NETWORK",
                physical_connection_requirements=glue.CfnConnection.PhysicalConnectionRequirementsProperty(
                    # the subnet's own attribute: a looked-up AZ name would be a literal here
                    availability_zone=subnet_resource.attr_availability_zone,
                    subnet_id=subnet.subnet_id,
                    security_group_id_list=[network.kafka_clients.security_group_id],
                ),
            ),
        )
        self.jobs: dict[str, glue.CfnJob] = {}
        for stage in STAGES:
            arguments = {
                "--datalake-formats": "iceberg",
                "--additional-python-modules": f"{root}/{artifacts.wheel}",
                "--enable-metrics": "true",
                "--enable-observability-metrics": "true",
                "--enable-continuous-cloudwatch-log": "true",
                "--job-language": "python",
                **settings_arguments,
            }
            if artifacts.jars:
                arguments["--extra-jars"] = ",".join(f"{root}/{jar}" for jar in artifacts.jars)
            self.jobs[stage] = glue.CfnJob(
                self,
                f"{stage.title()}Job",
                name=config.resource_name(stage),
                role=role.role_arn,
                glue_version=GLUE_VERSION,
                command=glue.CfnJob.JobCommandProperty(
                    name="glueetl",
                    python_version="3",
                    script_location=f"{root}/{artifacts.scripts[stage]}",
                ),
                worker_type=config.spark_job.worker_type,
                number_of_workers=config.spark_job.workers,
                timeout=config.spark_job.timeout_minutes,
                max_retries=0,  # Step Functions retries, with backoff, per run
                execution_property=glue.CfnJob.ExecutionPropertyProperty(
                    max_concurrent_runs=len(stage_runs(config, stage))
                ),
                connections=glue.CfnJob.ConnectionsListProperty(
                    connections=[config.resource_name("vpc")]
                ),
                default_arguments=arguments,
            )
            self.jobs[stage].add_dependency(connection)
            acknowledge(
                self.jobs[stage],
                "AwsSolutions-GL1",
                "Job logs hold row counts and errors, never market data or secrets; the log "
                "groups are Glue's own (encrypted at rest by CloudWatch Logs).",
            )
            acknowledge(
                self.jobs[stage],
                "AwsSolutions-GL3",
                "Job bookmarks are not used: progress is kept in Structured Streaming "
                "checkpoints in an SSE-S3 bucket.",
            )

    def _run(self, stage: str, arguments: dict[str, str]) -> sfn.IChainable:
        name = self._state_name(stage, arguments)
        run = tasks.GlueStartJobRun(
            self,
            name,
            glue_job_name=self.jobs[stage].name or "",
            arguments=sfn.TaskInput.from_object(arguments) if arguments else None,
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            result_path=sfn.JsonPath.DISCARD,
        )
        _retry_failed_runs(run)
        run.add_catch(
            sfn.Succeed(self, f"{name} still running"),
            errors=["Glue.ConcurrentRunsExceededException"],
        )
        return run


class EmrServerlessRunner(SparkRunner):
    """An EMR Serverless application; each stage run is a job run of the same scripts."""

    def __init__(
        self,
        stack: ProcessingStack,
        config: DeploymentConfig,
        network: NetworkStack,
        artifacts: SparkJobArtifacts,
        settings_arguments: dict[str, str],
        role: iam.Role,
    ) -> None:
        super().__init__(stack, "EmrServerless", artifacts, settings_arguments, role)
        self.application = emrs.CfnApplication(
            self,
            "Application",
            name=config.resource_name("spark"),
            release_label=EMR_RELEASE,
            type="Spark",
            auto_start_configuration=emrs.CfnApplication.AutoStartConfigurationProperty(
                enabled=True
            ),
            auto_stop_configuration=emrs.CfnApplication.AutoStopConfigurationProperty(
                enabled=True, idle_timeout_minutes=5
            ),
            network_configuration=emrs.CfnApplication.NetworkConfigurationProperty(
                subnet_ids=network.vpc.select_subnets(
                    subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
                ).subnet_ids,
                security_group_ids=[network.kafka_clients.security_group_id],
            ),
        )
        application_arn = stack.format_arn(
            service="emr-serverless",
            resource="/applications",
            resource_name=self.application.attr_application_id,
        )
        stack.state_machine_role_statements += [
            iam.PolicyStatement(
                actions=[
                    "emr-serverless:StartJobRun",
                    "emr-serverless:GetJobRun",
                    "emr-serverless:CancelJobRun",
                ],
                resources=[application_arn, f"{application_arn}/jobruns/*"],
            ),
            iam.PolicyStatement(actions=["iam:PassRole"], resources=[role.role_arn]),
            iam.PolicyStatement(
                actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                resources=[
                    stack.format_arn(
                        service="events",
                        resource="rule",
                        resource_name="StepFunctionsGetEventsForEMRServerlessJobRule",
                    )
                ],
            ),
        ]
        acknowledge(
            stack,
            f"AwsSolutions-IAM5[Resource::{finding_resource(stack, application_arn)}/jobruns/*]",
            "The job runs of K2's own EMR Serverless application (run ids are generated).",
        )

    def _run(self, stage: str, arguments: dict[str, str]) -> sfn.IChainable:
        name = self._state_name(stage, arguments)
        entry_arguments: list[str] = []
        for argument, value in {**arguments, **self.settings_arguments}.items():
            entry_arguments += [argument, value]
        submit = emr_spark_submit_parameters(self.root, self.artifacts)
        state: dict[str, Any] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::emr-serverless:startJobRun.sync",
            "Parameters": {
                "ApplicationId": self.application.attr_application_id,
                "ExecutionRoleArn": self.role.role_arn,
                "Name": name.lower().replace(" ", "-"),
                "JobDriver": {
                    "SparkSubmit": {
                        "EntryPoint": f"{self.root}/{self.artifacts.scripts[stage]}",
                        "EntryPointArguments": entry_arguments,
                        "SparkSubmitParameters": submit,
                    }
                },
            },
            "ResultPath": None,
            "Retry": [
                {
                    "ErrorEquals": ["States.ALL"],
                    "IntervalSeconds": 60,
                    "BackoffRate": 2,
                    "MaxAttempts": 2,
                }
            ],
        }
        return sfn.CustomState(self, name, state_json=state)


def emr_spark_submit_parameters(root: str, artifacts: SparkJobArtifacts) -> str:
    """EMR's own Iceberg runtime plus the shipped connector jars, and the Python environment.

    EMR 7 runs Python 3.9; the jobs need 3.11 and the k2 wheel's dependencies, so each run
    unpacks ``python/k2-pyenv.tar.gz`` (a packed virtualenv built for Amazon Linux 2023) as
    ``./environment``. K2 does not build that archive yet (docs/deploy.md, EMR Serverless)."""
    jars = [EMR_ICEBERG_JAR, *(f"{root}/{jar}" for jar in artifacts.jars)]
    python = "./environment/bin/python"
    return " ".join(
        [
            f"--conf spark.jars={','.join(jars)}",
            f"--conf spark.sql.extensions={ICEBERG_EXTENSIONS}",
            f"--conf spark.archives={root}/{EMR_PYTHON_ENVIRONMENT}#environment",
            f"--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON={python}",
            f"--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON={python}",
            f"--conf spark.executorEnv.PYSPARK_PYTHON={python}",
        ]
    )


def _retry_failed_runs(run: sfn.TaskStateBase) -> None:
    """A failed run is retried twice (1 and 2 minutes later): transient S3/MSK errors and
    Iceberg commit conflicts with a concurrent job clear up; a real bug fails three times."""
    run.add_retry(
        errors=["States.TaskFailed"],
        interval=Duration.minutes(1),
        backoff_rate=2,
        max_attempts=2,
    )
