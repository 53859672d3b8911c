"""The names the platform's dashboard and alarms resolve to in the local cloud.

In AWS the CDK app maps each :class:`~k2.monitoring.metrics.Resource` to a deployed resource's
name; locally the same names are derived from a :class:`DeploymentConfig` for the local
environment, so the local gateway, the job runner and the rendered dashboard agree on them.
"""

from __future__ import annotations

from k2.deployment.config import DeploymentConfig
from k2.monitoring.alarms import EventRuleSpec, job_failure_rule
from k2.monitoring.metrics import Resource
from k2.settings import K2Settings

METRICS_LOG_GROUP = "/k2/local/metrics"
"""Where local processes ship their EMF documents (``K2_METRICS_LOG_GROUP``)."""


def local_deployment(settings: K2Settings) -> DeploymentConfig:
    return DeploymentConfig(environment=settings.environment, region=settings.region)


def local_job_failure_rule(config: DeploymentConfig) -> EventRuleSpec:
    """The rule whose ``TriggeredRules`` count the spark-job-failed alarm reads; locally the job
    runner publishes that count when a job run fails (there is no EventBridge)."""
    return job_failure_rule(config.engine, glue_job_prefix=config.resource_name(""))


def local_resources(settings: K2Settings) -> dict[Resource, str]:
    config = local_deployment(settings)
    api_name = config.resource_name("api")
    return {
        Resource.API_NAME: api_name,
        Resource.API_FUNCTION: api_name,
        Resource.API_LOG_GROUP: f"/aws/lambda/{api_name}",
        Resource.FEED_CLUSTER: config.resource_name("feeds"),
        Resource.FEED_LOG_GROUP: METRICS_LOG_GROUP,
        Resource.JOB_FAILURE_RULE: config.resource_name(local_job_failure_rule(config).name_suffix),
    }
