"""Checks that the dashboard and the alarms only read metrics the catalog knows."""

from __future__ import annotations

from collections.abc import Iterable

from k2.monitoring.alarms import AlarmSpec
from k2.monitoring.dashboard import Panel
from k2.monitoring.metrics import CATALOG, MetricSpec
from k2.monitoring.queries import metrics_read


def referenced_metrics(
    panels: Iterable[Panel], alarms: Iterable[AlarmSpec]
) -> tuple[MetricSpec, ...]:
    """Every metric a panel or an alarm reads, in order of first use, once each."""
    queries = [query for panel in panels for query in panel.queries]
    queries += [alarm.metric for alarm in alarms]
    found = [spec for query in queries for spec in metrics_read(query)]
    return tuple(dict.fromkeys(found))


def uncatalogued(panels: Iterable[Panel], alarms: Iterable[AlarmSpec]) -> list[str]:
    """The keys of referenced metrics that are not exactly a catalog entry (should be none)."""
    catalogued = set(CATALOG)
    return [spec.key for spec in referenced_metrics(panels, alarms) if spec not in catalogued]
