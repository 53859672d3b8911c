"""How a stage of the Spark pipeline runs on each engine, as Step Functions states.

Glue 5.1 (the default): one job per stage, each run started with its own arguments. EMR
Serverless (the alternative): one application, each run a job run of the same scripts. Either
way the scripts, the k2 wheel and the jars are the ones ``k2.packaging.spark_job_artifacts``
built, under ``root`` in the artifacts bucket.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_emrserverless as emrs
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra_cdk.nag import acknowledge, finding_resource
from infra_cdk.spark_job_artifacts import SparkJobArtifacts
from infra_cdk.stacks.network import NetworkStack
from k2.deployment.config import DeploymentConfig
from k2.domain.markets import DataType

GLUE_VERSION = "5.1"
EMR_RELEASE = "emr-7.12.0"
STAGES = ("bronze", "silver", "gold", "ohlcv", "maintenance")
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


class SparkRunner(Construct):
    """Turns each stage into Step Functions states; the engines differ only in how one run
    starts (``_run``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        root: str,
        artifacts: SparkJobArtifacts,
        settings_arguments: dict[str, str],
        role: iam.Role,
    ) -> None:
        super().__init__(scope, construct_id)
        self.root = root  # s3:// prefix the artifacts were uploaded under
        self.artifacts = artifacts
        self.settings_arguments = settings_arguments
        self.role = role
        self.state_machine_statements: list[iam.PolicyStatement] = []
        """What the state machines' role needs beyond what CDK's task states grant."""

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
        scope: Construct,
        config: DeploymentConfig,
        network: NetworkStack,
        root: str,
        artifacts: SparkJobArtifacts,
        settings_arguments: dict[str, str],
        role: iam.Role,
    ) -> None:
        super().__init__(scope, "Glue", root, artifacts, settings_arguments, role)
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
        scope: Construct,
        config: DeploymentConfig,
        network: NetworkStack,
        root: str,
        artifacts: SparkJobArtifacts,
        settings_arguments: dict[str, str],
        role: iam.Role,
    ) -> None:
        super().__init__(scope, "EmrServerless", root, artifacts, settings_arguments, role)
        stack = Stack.of(self)
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
        self.state_machine_statements += [
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
