"""The platform's alarms and dashboard in the local CloudWatch: created by `k2 local up` with the
names the CDK app gives them, from the same definitions, and evaluated like CloudWatch would."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from k2.aws import aws_client
from k2.local.monitoring_provisioning import (
    alarm_request,
    metric_data_queries,
    provision_monitoring,
)
from k2.local.monitoring_resources import local_deployment, local_resources
from k2.monitoring.alarms import (
    AlarmSpec,
    api_5xx_alarm,
    api_latency_alarm,
    dlq_rate_alarm,
    platform_alarms,
)
from k2.monitoring.dashboard import PLATFORM_DASHBOARD
from k2.monitoring.metrics import Resource
from k2.monitoring.queries import MetricQuery
from k2.settings import K2Settings

pytestmark = pytest.mark.integration

# The CDK app names each alarm k2-<environment>-<suffix> (infra_cdk/stacks/observability.py).
CDK_ALARM_SUFFIXES = (
    "freshness-binance",
    "freshness-kraken",
    "dlq-rate",
    "gaps-binance",
    "gaps-kraken",
    "spark-job-failed",
    "api-5xx",
    "api-p99",
    "no-data-binance",
    "no-data-kraken",
)
DEADLINE_S = 120.0


@pytest.fixture
def cloudwatch(k2_settings: K2Settings) -> Any:
    return aws_client("cloudwatch", k2_settings)


def _platform_alarms(cloudwatch: Any, settings: K2Settings) -> dict[str, dict[str, Any]]:
    prefix = f"k2-{settings.environment}-"
    pages = cloudwatch.get_paginator("describe_alarms").paginate(AlarmNamePrefix=prefix)
    return {alarm["AlarmName"]: alarm for page in pages for alarm in page["MetricAlarms"]}


def test_every_platform_alarm_exists_with_the_cdk_names(
    cloudwatch: Any, k2_settings: K2Settings
) -> None:
    alarms = _platform_alarms(cloudwatch, k2_settings)
    expected = {f"k2-{k2_settings.environment}-{suffix}" for suffix in CDK_ALARM_SUFFIXES}
    assert expected <= set(alarms)

    config = local_deployment(k2_settings)
    names = local_resources(k2_settings)
    for spec in platform_alarms(config.alarms, config.exchanges):
        alarm = alarms[config.resource_name(spec.name_suffix)]
        assert alarm["AlarmDescription"] == spec.description
        assert alarm["Threshold"] == spec.threshold
        assert alarm["ComparisonOperator"] == spec.comparison.value
        assert alarm["EvaluationPeriods"] == spec.evaluation_periods
        assert alarm["DatapointsToAlarm"] == spec.datapoints_to_alarm
        assert alarm["TreatMissingData"] == spec.missing_data.value
        if isinstance(spec.metric, MetricQuery):
            query = spec.metric
            assert alarm["Namespace"] == query.metric.namespace.value
            assert alarm["MetricName"] == query.metric.name
            assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == query.dimensions(names)
            assert alarm["Period"] == query.period_s
            statistic = alarm.get("Statistic") or alarm.get("ExtendedStatistic")
            assert statistic == query.statistic.value
        else:
            expressions = [m["Expression"] for m in alarm["Metrics"] if m.get("Expression")]
            assert expressions == [spec.metric.expression]
    assert alarms[f"k2-{k2_settings.environment}-api-p99"]["ExtendedStatistic"] == "p99"


def test_provisioning_again_changes_nothing(cloudwatch: Any, k2_settings: K2Settings) -> None:
    before = _platform_alarms(cloudwatch, k2_settings)
    provision_monitoring(cloudwatch, k2_settings)
    after = _platform_alarms(cloudwatch, k2_settings)
    assert set(after) == set(before)
    dashboards = cloudwatch.list_dashboards(DashboardNamePrefix=f"k2-{k2_settings.environment}-")
    assert [d["DashboardName"] for d in dashboards["DashboardEntries"]] == [
        f"k2-{k2_settings.environment}-platform"
    ]


def test_the_dashboard_and_every_panel_query_answer(
    cloudwatch: Any, k2_settings: K2Settings
) -> None:
    name = f"k2-{k2_settings.environment}-platform"
    body = json.loads(cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
    assert len(body["widgets"]) == len(PLATFORM_DASHBOARD.layout())
    titles = {w["properties"].get("title") for w in body["widgets"] if w["type"] != "text"}
    assert titles == {panel.title for panel in PLATFORM_DASHBOARD.panels}

    names = local_resources(k2_settings)
    end = datetime.now(UTC)
    for panel in PLATFORM_DASHBOARD.panels:
        for index, query in enumerate(panel.queries):
            results = cloudwatch.get_metric_data(
                MetricDataQueries=metric_data_queries(query, names, f"q{index}"),
                StartTime=end - timedelta(hours=3),
                EndTime=end,
            )["MetricDataResults"]
            assert all(result["StatusCode"] == "Complete" for result in results), panel.title


def _fires(
    cloudwatch: Any, alarm_name: str, provoke: Callable[[], None], deadline_s: float = DEADLINE_S
) -> dict[str, Any]:
    """Keep the condition up (as a real fault would) until the alarm goes to ALARM."""
    deadline = time.monotonic() + deadline_s
    while True:
        provoke()
        alarms: list[dict[str, Any]] = cloudwatch.describe_alarms(AlarmNames=[alarm_name])[
            "MetricAlarms"
        ]
        [alarm] = alarms
        if alarm["StateValue"] == "ALARM":
            return alarm
        if time.monotonic() > deadline:
            raise AssertionError(f"{alarm_name} did not fire within {deadline_s:.0f} s: {alarm}")
        time.sleep(1.0)


def _put_for(cloudwatch: Any, spec: AlarmSpec, names: dict[Resource, str], value: float) -> None:
    metric = spec.metric
    assert isinstance(metric, MetricQuery)
    cloudwatch.put_metric_data(
        Namespace=metric.metric.namespace.value,
        MetricData=[
            {
                "MetricName": metric.metric.name,
                "Dimensions": [
                    {"Name": k, "Value": v} for k, v in metric.dimensions(names).items()
                ],
                "Value": value,
                "Timestamp": datetime.now(UTC),
            }
        ],
    )


@pytest.mark.parametrize("which", ["api-5xx", "api-p99"])
def test_a_platform_alarm_definition_fires_locally(
    cloudwatch: Any, k2_settings: K2Settings, which: str
) -> None:
    """The same definitions, with 10 s periods and a test API's name so the session's own
    alarms are left alone."""
    config = local_deployment(k2_settings)
    names = {**local_resources(k2_settings), Resource.API_NAME: f"k2-test-{uuid.uuid4().hex[:8]}"}
    if which == "api-5xx":
        spec = api_5xx_alarm(config.alarms)
        breaching = float(config.alarms.api_5xx_per_5min)
    else:
        spec = api_latency_alarm(config.alarms)
        breaching = config.alarms.api_p99_ms * 2.0
    alarm_name = f"{names[Resource.API_NAME]}-{which}"
    cloudwatch.put_metric_alarm(**alarm_request(spec, names, alarm_name, period_s=10))

    fired = _fires(cloudwatch, alarm_name, lambda: _put_for(cloudwatch, spec, names, breaching))
    assert fired["StateReason"].startswith("Threshold Crossed:")


def test_the_dlq_math_alarm_fires_locally(cloudwatch: Any, k2_settings: K2Settings) -> None:
    """dlq-rate is metric math over every exchange's feed and silver dead letters; here in a
    namespace of its own so the session's alarm is left alone."""
    config = local_deployment(k2_settings)
    names = local_resources(k2_settings)
    spec = dlq_rate_alarm(config.alarms, config.exchanges)
    namespace = f"K2Test-{uuid.uuid4().hex[:8]}"
    request = alarm_request(spec, names, f"k2-test-{namespace}-dlq", period_s=10)
    for query in request["Metrics"]:
        if "MetricStat" in query:
            query["MetricStat"]["Metric"]["Namespace"] = namespace
    cloudwatch.put_metric_alarm(**request)
    [first_input] = [q for q in request["Metrics"] if "MetricStat" in q][:1]
    metric = first_input["MetricStat"]["Metric"]

    def provoke() -> None:
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": metric["MetricName"],
                    "Dimensions": metric["Dimensions"],
                    "Value": float(config.alarms.dlq_records_per_5min),
                    "Timestamp": datetime.now(UTC),
                }
            ],
        )

    fired = _fires(cloudwatch, request["AlarmName"], provoke)
    assert "greater than or equal to the threshold" in fired["StateReason"]
