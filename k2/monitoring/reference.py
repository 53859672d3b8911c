"""Markdown tables for ``docs/monitoring.md``, generated so the document cannot drift from the
definitions (a test checks the document contains the current tables)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from k2.monitoring.alarms import AlarmSpec
from k2.monitoring.dashboard import Dashboard
from k2.monitoring.metrics import CATALOG, MetricSpec, Resource
from k2.monitoring.queries import MathQuery, MetricQuery, Query, SearchQuery

_COMPARISON_SIGN = {
    "GreaterThanThreshold": ">",
    "GreaterThanOrEqualToThreshold": ">=",
    "LessThanThreshold": "<",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows),
    ]
    return "\n".join(lines) + "\n"


def _dimensions(spec: MetricSpec) -> str:
    parts = []
    for dimension in spec.dimensions:
        if dimension.value is None:
            parts.append(dimension.name)
        elif isinstance(dimension.value, Resource):
            parts.append(f"{dimension.name}=<{dimension.value.value}>")
        else:
            parts.append(f"{dimension.name}={dimension.value}")
    return ", ".join(parts)


def metric_table(catalog: Sequence[MetricSpec] = CATALOG) -> str:
    header = ("Metric", "Namespace", "Dimensions", "Unit", "Emitted by", "Emitted", "Meaning")
    rows = (
        (
            f"`{spec.name}`",
            spec.namespace.value,
            _dimensions(spec),
            spec.unit.value,
            spec.component.value,
            "yes" if spec.emitted else "**not yet**",
            spec.meaning,
        )
        for spec in catalog
    )
    return _table(header, rows)


def _query(query: Query) -> str:
    if isinstance(query, MathQuery):
        return f"{query.expression} over " + "; ".join(
            f"{query_id} = {_query(inner)}" for query_id, inner in query.using
        )
    if isinstance(query, SearchQuery):
        by = ", ".join(query.split_by)
        pinned = "".join(f" {name}={value}" for name, value in query.filters)
        return f"{query.metric.name} {query.statistic.value} by {by}{pinned}"
    values = ", ".join(f"{name}={value}" for name, value in query.values)
    return f"{query.metric.name} {query.statistic.value}" + (f" ({values})" if values else "")


def panel_table(dashboard: Dashboard) -> str:
    header = ("Row", "Panel", "Kind", "Size", "Shows", "Replaces (old Grafana panel)")
    rows = (
        (
            row.title,
            panel.title,
            panel.kind.value,
            f"{panel.width}x{panel.height}",
            "; ".join(_query(query) for query in panel.queries) or "Logs Insights query",
            ", ".join(panel.replaces),
        )
        for row in dashboard.rows
        for panel in row.panels
    )
    return _table(header, rows)


def _alarm_metric(metric: MetricQuery | MathQuery) -> str:
    if isinstance(metric, MathQuery):
        return _query(metric)
    return f"{metric.metric.namespace.value} {_query(metric)}"


def alarm_table(alarms: Sequence[AlarmSpec]) -> str:
    header = ("Alarm", "Metric", "Period", "Datapoints", "Fires when", "Missing data", "Do")
    rows = (
        (
            f"`{alarm.name_suffix}`",
            _alarm_metric(alarm.metric),
            f"{alarm.period_s} s",
            f"{alarm.datapoints_to_alarm} of {alarm.evaluation_periods}",
            f"{_COMPARISON_SIGN[alarm.comparison.value]} {alarm.threshold:g}",
            alarm.missing_data.value,
            alarm.action,
        )
        for alarm in alarms
    )
    return _table(header, rows)
