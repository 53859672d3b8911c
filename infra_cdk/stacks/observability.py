"""The CloudWatch dashboard and alarms of ``k2.monitoring`` (defined once, rendered here and,
locally, by ``k2 dashboard``), the Spark-job failure rule, the SNS topic alarms go to, and the
scheduled freshness check that writes the metric the freshness alarms read.

Processing's state machines get an alarm each on failed executions here too, so every alarm of
the platform notifies the one topic.
"""

from __future__ import annotations

from aws_cdk import Duration, Environment, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra_cdk.freshness_check import FreshnessCheck
from infra_cdk.monitoring_widgets import alarm, widget
from infra_cdk.spark_runners import EmrServerlessRunner
from infra_cdk.stacks.api import ApiStack
from infra_cdk.stacks.ingestion import IngestionStack
from infra_cdk.stacks.lakehouse import LakehouseStack
from infra_cdk.stacks.processing import ProcessingStack
from k2.deployment.config import DeploymentConfig, Engine
from k2.monitoring.alarms import job_failure_rule, platform_alarms
from k2.monitoring.dashboard import PLATFORM_DASHBOARD
from k2.monitoring.metrics import Resource


class ObservabilityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        lakehouse: LakehouseStack,
        api: ApiStack,
        ingestion: IngestionStack,
        processing: ProcessingStack,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env)
        self.topic = sns.Topic(
            self,
            "Alarms",
            topic_name=config.resource_name("alarms"),
            display_name="K2 alarms",
            master_key=kms.Alias.from_alias_name(self, "SnsKey", "alias/aws/sns"),
            enforce_ssl=True,
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))
        failure_rule = self._job_failure_rule(config, processing)
        self.freshness = FreshnessCheck(self, "Freshness", config=config, lakehouse=lakehouse)
        names = {
            Resource.API_NAME: api.api_name,
            Resource.API_FUNCTION: api.function.function_name,
            Resource.API_LOG_GROUP: api.function.log_group.log_group_name,
            Resource.FEED_CLUSTER: ingestion.cluster.cluster_name,
            Resource.FEED_LOG_GROUP: ingestion.log_groups[0].log_group_name,
            Resource.JOB_FAILURE_RULE: failure_rule.rule_name,
        }
        log_groups = {
            **names,
            Resource.FEED_LOG_GROUP: [group.log_group_name for group in ingestion.log_groups],
        }
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=config.resource_name(PLATFORM_DASHBOARD.name_suffix),
            default_interval=Duration.hours(3),
        )
        for placement in PLATFORM_DASHBOARD.layout():
            self.dashboard.add_widgets(widget(placement, names, log_groups))
        notify = actions.SnsAction(self.topic)
        self.alarms: list[cloudwatch.Alarm] = []
        for spec in platform_alarms(config.alarms, config.exchanges):
            platform_alarm = alarm(self, spec, names, config.resource_name(spec.name_suffix))
            platform_alarm.add_alarm_action(notify)
            self.alarms.append(platform_alarm)
        for name, machine in processing.state_machines.items():
            failed = machine.metric_failed(period=Duration.minutes(5)).create_alarm(
                self,
                f"Alarm-{name}-failed",
                alarm_name=config.resource_name(f"{name}-run-failed"),
                alarm_description=(
                    f"A scheduled {name} run failed after its retries. What to do: open the "
                    "execution in Step Functions, read the failed job run's error, fix, and let "
                    "the next scheduled run catch up (runs are idempotent)."
                ),
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            failed.add_alarm_action(notify)
            self.alarms.append(failed)

    def _job_failure_rule(
        self, config: DeploymentConfig, processing: ProcessingStack
    ) -> events.Rule:
        application_id = None
        if config.engine is Engine.EMR_SERVERLESS:
            runner = processing.runner
            assert isinstance(runner, EmrServerlessRunner)
            application_id = runner.application.attr_application_id
        spec = job_failure_rule(
            config.engine,
            glue_job_prefix=config.resource_name(""),
            emr_application_id=application_id,
        )
        rule = events.Rule(
            self,
            "JobFailureRule",
            rule_name=config.resource_name(spec.name_suffix),
            description=spec.description,
            event_pattern=events.EventPattern(
                source=spec.pattern()["source"],
                detail_type=spec.pattern()["detail-type"],
                detail=spec.pattern()["detail"],
            ),
        )
        rule.add_target(targets.SnsTopic(self.topic))
        return rule
