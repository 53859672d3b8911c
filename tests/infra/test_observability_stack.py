"""Observability: the shared dashboard and alarms, job-failure rule, an encrypted SNS topic."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from infra_cdk.cloud_assembly import CloudAssembly
from k2.deployment.config import DeploymentConfig
from k2.monitoring.alarms import platform_alarms
from k2.monitoring.dashboard import PLATFORM_DASHBOARD

pytestmark = pytest.mark.infra


def test_every_platform_alarm_and_run_failure_notifies_the_topic(assembly: CloudAssembly) -> None:
    config = DeploymentConfig()
    specs = platform_alarms(config.alarms, config.exchanges)
    alarms = assembly.resources("Observability", "AWS::CloudWatch::Alarm")
    names = {alarm["Properties"]["AlarmName"] for alarm in alarms.values()}
    expected = {config.resource_name(spec.name_suffix) for spec in specs}
    expected |= {
        config.resource_name(f"{run}-run-failed") for run in ("pipeline", "ohlcv", "maintenance")
    }
    assert names == expected
    for alarm in alarms.values():
        assert (
            alarm["Properties"]["AlarmActions"] == [{"Ref": Match.any_value()}]
            or len(alarm["Properties"]["AlarmActions"]) == 1
        )


def test_alarm_thresholds_follow_the_config(assembly: CloudAssembly) -> None:
    config = DeploymentConfig()
    by_name = {
        alarm["Properties"]["AlarmName"]: alarm["Properties"]
        for alarm in assembly.resources("Observability", "AWS::CloudWatch::Alarm").values()
    }
    for spec in platform_alarms(config.alarms, config.exchanges):
        properties = by_name[config.resource_name(spec.name_suffix)]
        assert properties["Threshold"] == spec.threshold
        assert properties["TreatMissingData"] == spec.missing_data.value


def test_dashboard_has_every_panel(assembly: CloudAssembly) -> None:
    (dashboard,) = assembly.resources("Observability", "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for panel in PLATFORM_DASHBOARD.panels:
        assert json.dumps(panel.title)[1:-1] in body, panel.title


def test_topic_is_encrypted_and_job_failures_reach_it(
    templates: dict[str, Template], alternative_templates: dict[str, Template]
) -> None:
    observability = templates["Observability"]
    observability.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": Match.any_value(), "TopicName": "k2-dev-alarms"}
    )
    observability.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": Match.object_like({"source": ["aws.glue"]}), "State": "ENABLED"},
    )
    observability.resource_count_is("AWS::SNS::Subscription", 0)
    alternative_templates["Observability"].has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "oncall@example.com"}
    )
    alternative_templates["Observability"].has_resource_properties(
        "AWS::Events::Rule", {"EventPattern": Match.object_like({"source": ["aws.emr-serverless"]})}
    )
