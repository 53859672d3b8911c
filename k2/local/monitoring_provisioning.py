"""The platform's alarms and dashboard in the local CloudWatch, as the Observability stack
creates them in AWS.

The same :mod:`k2.monitoring` definitions go through the same translation as
``infra_cdk/monitoring_widgets.py`` (a MetricQuery becomes one metric with ``Statistic`` or, for
percentiles, ``ExtendedStatistic``; a MathQuery becomes ``Metrics`` with the expression returned
and its inputs hidden), named with the same ``DeploymentConfig.resource_name`` and the local
names of :func:`k2.local.monitoring_resources.local_resources`. ``PutMetricAlarm`` and
``PutDashboard`` replace what exists, so provisioning again is harmless (the local CloudWatch
keeps an updated alarm's state, as AWS does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from k2.local.monitoring_resources import local_deployment, local_resources
from k2.monitoring.alarms import AlarmSpec, platform_alarms
from k2.monitoring.dashboard import PLATFORM_DASHBOARD, Dashboard, Panel, PanelKind, Placement
from k2.monitoring.metric_statistics import percentile_of
from k2.monitoring.metrics import Resource, Resources
from k2.monitoring.queries import MetricQuery, Query, SearchQuery
from k2.settings import K2Settings

LogGroups = Mapping[Resource, str | Sequence[str]]


def _is_percentile(statistic: str) -> bool:
    return percentile_of(statistic) is not None


def _metric(query: MetricQuery, names: Resources) -> dict[str, Any]:
    return {
        "Namespace": query.metric.namespace.value,
        "MetricName": query.metric.name,
        "Dimensions": [
            {"Name": name, "Value": value}
            for name, value in sorted(query.dimensions(names).items())
        ],
    }


def metric_data_queries(
    query: Query, names: Resources, query_id: str, *, return_data: bool = True
) -> list[dict[str, Any]]:
    """``MetricDataQueries`` (GetMetricData, or an alarm's ``Metrics``) for one query: a metric,
    a SEARCH expression, or metric math followed by its hidden inputs."""
    entry: dict[str, Any] = {"Id": query_id, "ReturnData": return_data}
    if query.label:
        entry["Label"] = query.label
    if isinstance(query, MetricQuery):
        stat = {"Metric": _metric(query, names), "Period": query.period_s}
        return [entry | {"MetricStat": stat | {"Stat": query.statistic.value}}]
    if isinstance(query, SearchQuery):
        return [entry | {"Expression": query.expression(names), "Period": query.period_s}]
    inputs = [
        line
        for inner_id, inner in query.using
        for line in metric_data_queries(inner, names, inner_id, return_data=False)
    ]
    return [entry | {"Expression": query.expression, "Period": query.period_s}, *inputs]


def _with_period(spec: AlarmSpec, period_s: int) -> AlarmSpec:
    metric = spec.metric
    if isinstance(metric, MetricQuery):
        return replace(spec, metric=replace(metric, period_s=period_s))
    using = tuple((query_id, replace(query, period_s=period_s)) for query_id, query in metric.using)
    return replace(spec, metric=replace(metric, using=using, period_s=period_s))


def alarm_request(
    spec: AlarmSpec, names: Resources, alarm_name: str, *, period_s: int | None = None
) -> dict[str, Any]:
    """The ``PutMetricAlarm`` parameters of one platform alarm. ``period_s`` replaces every
    period of its metrics (tests use it to provoke an alarm in seconds, not minutes)."""
    if period_s is not None:
        spec = _with_period(spec, period_s)
    request: dict[str, Any] = {
        "AlarmName": alarm_name,
        "AlarmDescription": spec.description,
        "Threshold": float(spec.threshold),
        "EvaluationPeriods": spec.evaluation_periods,
        "DatapointsToAlarm": spec.datapoints_to_alarm,
        "ComparisonOperator": spec.comparison.value,
        "TreatMissingData": spec.missing_data.value,
    }
    metric = spec.metric
    if isinstance(metric, MetricQuery):
        statistic = metric.statistic.value
        key = "ExtendedStatistic" if _is_percentile(statistic) else "Statistic"
        return request | _metric(metric, names) | {"Period": metric.period_s, key: statistic}
    metrics = metric_data_queries(metric, names, "expr_1")
    for entry in metrics:  # an alarm's expression takes its period from its metrics (as CDK)
        if "Expression" in entry:
            entry.pop("Period", None)
    return request | {"Metrics": metrics}


def local_alarms(settings: K2Settings) -> list[tuple[str, AlarmSpec]]:
    """Every platform alarm of the local deployment, with its name (as the CDK app names it)."""
    config = local_deployment(settings)
    return [
        (config.resource_name(spec.name_suffix), spec)
        for spec in platform_alarms(config.alarms, config.exchanges)
    ]


def put_platform_alarms(
    cloudwatch: Any, settings: K2Settings, *, period_s: int | None = None
) -> list[str]:
    """Put every platform alarm of the local deployment; returns their names."""
    names = local_resources(settings)
    alarms = local_alarms(settings)
    for alarm_name, spec in alarms:
        cloudwatch.put_metric_alarm(**alarm_request(spec, names, alarm_name, period_s=period_s))
    return [alarm_name for alarm_name, _ in alarms]


# -- the dashboard body ---------------------------------------------------------------------------


def _metric_line(query: MetricQuery, names: Resources, options: dict[str, Any]) -> list[Any]:
    line: list[Any] = [query.metric.namespace.value, query.metric.name]
    for name, value in query.dimensions(names).items():
        line += [name, value]
    rendering = {"stat": query.statistic.value, "period": query.period_s} | options
    if query.label:
        rendering.setdefault("label", query.label)
    return [*line, rendering]


def _metric_lines(query: Query, names: Resources, counter: list[int]) -> list[list[Any]]:
    """Dashboard ``metrics`` entries for one query: a metric line, or expression lines with
    their hidden inputs (as CDK renders a MathExpression)."""
    if isinstance(query, MetricQuery):
        return [_metric_line(query, names, {})]
    counter[0] += 1
    expression_id = f"e{counter[0]}"
    if isinstance(query, SearchQuery):
        entry: dict[str, Any] = {
            "expression": query.expression(names),
            "id": expression_id,
            "period": query.period_s,
        }
        if query.label:
            entry["label"] = query.label
        return [[entry]]
    lines: list[list[Any]] = [
        [
            {
                "expression": query.expression,
                "label": query.label,
                "id": expression_id,
                "period": query.period_s,
            }
        ]
    ]
    for query_id, inner in query.using:
        if isinstance(inner, MetricQuery):
            lines.append(_metric_line(inner, names, {"id": query_id, "visible": False}))
        else:
            lines.append(
                [
                    {
                        "expression": inner.expression(names),
                        "id": query_id,
                        "visible": False,
                        "period": inner.period_s,
                    }
                ]
            )
    return lines


def _widget(
    placement: Placement, names: Resources, log_groups: LogGroups, region: str
) -> dict[str, Any]:
    frame = {
        "x": placement.x,
        "y": placement.y,
        "width": placement.width,
        "height": placement.height,
    }
    panel: Panel | None = placement.panel
    if panel is None:
        return {"type": "text", **frame, "properties": {"markdown": f"## {placement.title}"}}
    if panel.kind is PanelKind.LOG_TABLE:
        assert panel.log_query is not None
        sources = " | ".join(
            f"SOURCE '{group}'" for group in panel.log_query.log_group_names(log_groups)
        )
        return {
            "type": "log",
            **frame,
            "properties": {
                "view": "table",
                "title": panel.title,
                "region": region,
                "query": f"{sources} | {panel.log_query.query}",
            },
        }
    counter = [0]
    metrics = [line for query in panel.queries for line in _metric_lines(query, names, counter)]
    properties: dict[str, Any] = {
        "view": "singleValue" if panel.kind is PanelKind.SINGLE_VALUE else "timeSeries",
        "title": panel.title,
        "region": region,
        "metrics": metrics,
    }
    if panel.y_axis is not None:
        axis: dict[str, Any] = {"label": panel.y_axis.label, "showUnits": False}
        if panel.y_axis.minimum is not None:
            axis["min"] = panel.y_axis.minimum
        properties["yAxis"] = {"left": axis}
    return {"type": "metric", **frame, "properties": properties}


def dashboard_body(
    dashboard: Dashboard, names: Resources, log_groups: LogGroups, region: str
) -> dict[str, Any]:
    """The CloudWatch dashboard body of a :class:`Dashboard` (``PutDashboard``'s JSON)."""
    return {
        "start": dashboard.default_range,
        "widgets": [
            _widget(placement, names, log_groups, region) for placement in dashboard.layout()
        ],
    }


def put_platform_dashboard(cloudwatch: Any, settings: K2Settings) -> str:
    config = local_deployment(settings)
    names = local_resources(settings)
    name = config.resource_name(PLATFORM_DASHBOARD.name_suffix)
    body = dashboard_body(PLATFORM_DASHBOARD, names, names, settings.region)
    cloudwatch.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
    return name


def provision_monitoring(cloudwatch: Any, settings: K2Settings) -> dict[str, Any]:
    """Everything the Observability stack puts in CloudWatch, locally; idempotent."""
    return {
        "alarms": put_platform_alarms(cloudwatch, settings),
        "dashboard": put_platform_dashboard(cloudwatch, settings),
    }
