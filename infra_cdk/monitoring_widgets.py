"""Render ``k2.monitoring``'s pure definitions (queries, panels, alarms) as CDK CloudWatch
objects: the one place that knows both vocabularies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from k2.monitoring.alarms import AlarmSpec
from k2.monitoring.dashboard import Panel, PanelKind, Placement
from k2.monitoring.metrics import Resource
from k2.monitoring.queries import MathQuery, MetricQuery, Query, SearchQuery

Names = Mapping[Resource, str]
LogGroups = Mapping[Resource, str | Sequence[str]]


def metric(query: Query, names: Names) -> cloudwatch.IMetric:
    if isinstance(query, MetricQuery):
        return cloudwatch.Metric(
            namespace=query.metric.namespace.value,
            metric_name=query.metric.name,
            dimensions_map=query.dimensions(names),
            statistic=query.statistic.value,
            period=Duration.seconds(query.period_s),
            label=query.label or None,
        )
    if isinstance(query, SearchQuery):
        return cloudwatch.MathExpression(
            expression=query.expression(names),
            using_metrics={},
            label=query.label or "",
            period=Duration.seconds(query.period_s),
        )
    return math_expression(query, names)


def math_expression(query: MathQuery, names: Names) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression=query.expression,
        using_metrics={query_id: metric(inner, names) for query_id, inner in query.using},
        label=query.label,
        period=Duration.seconds(query.period_s),
    )


def widget(placement: Placement, names: Names, log_groups: LogGroups) -> cloudwatch.IWidget:
    """A row header (``panel`` None) becomes a text widget; a panel, the widget of its kind."""
    panel = placement.panel
    if panel is None:
        return cloudwatch.TextWidget(
            markdown=f"## {placement.title}", width=placement.width, height=placement.height
        )
    return _panel_widget(panel, names, log_groups)


def _panel_widget(panel: Panel, names: Names, log_groups: LogGroups) -> cloudwatch.IWidget:
    if panel.kind is PanelKind.LOG_TABLE:
        assert panel.log_query is not None
        return cloudwatch.LogQueryWidget(
            title=panel.title,
            log_group_names=panel.log_query.log_group_names(log_groups),
            query_string=panel.log_query.query,
            width=panel.width,
            height=panel.height,
        )
    metrics = [metric(query, names) for query in panel.queries]
    if panel.kind is PanelKind.SINGLE_VALUE:
        return cloudwatch.SingleValueWidget(
            title=panel.title, metrics=metrics, width=panel.width, height=panel.height
        )
    axis = None
    if panel.y_axis is not None:
        axis = cloudwatch.YAxisProps(label=panel.y_axis.label, min=panel.y_axis.minimum)
    return cloudwatch.GraphWidget(
        title=panel.title, left=metrics, left_y_axis=axis, width=panel.width, height=panel.height
    )


def alarm(scope: Construct, spec: AlarmSpec, names: Names, alarm_name: str) -> cloudwatch.Alarm:
    return cloudwatch.Alarm(
        scope,
        f"Alarm-{spec.name_suffix}",
        metric=metric(spec.metric, names),
        alarm_name=alarm_name,
        alarm_description=spec.description,
        threshold=spec.threshold,
        evaluation_periods=spec.evaluation_periods,
        datapoints_to_alarm=spec.datapoints_to_alarm,
        comparison_operator=cloudwatch.ComparisonOperator[spec.comparison.name],
        treat_missing_data=cloudwatch.TreatMissingData[spec.missing_data.name],
    )
