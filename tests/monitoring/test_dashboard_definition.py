"""The dashboard definition: every old panel re-expressed, every metric catalogued, a valid grid."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from k2.deployment.config import AlarmThresholds
from k2.monitoring import metrics as m
from k2.monitoring.alarms import platform_alarms
from k2.monitoring.coverage import referenced_metrics, uncatalogued
from k2.monitoring.dashboard import (
    GRID_COLUMNS,
    PLATFORM_DASHBOARD,
    DashboardRow,
    LogQuery,
    Panel,
    PanelKind,
    Placement,
    YAxis,
)
from k2.monitoring.metrics import CATALOG, Dimension, MetricSpec, Namespace, Resource, Unit
from k2.monitoring.queries import MathQuery, MetricQuery, SearchQuery, Statistic
from k2.monitoring.reference import panel_table

pytestmark = pytest.mark.unit

DOC = Path(__file__).parents[2] / "docs" / "monitoring.md"

# The reference system's Grafana dashboard, "K2 Market Data Platform": 5 rows, 15 panels
# (seed-k2-behaviour.md §11.4).
OLD_PANELS = (
    "API Request Rate",
    "API Latency p99",
    "API Error Rate",
    "Messages Produced",
    "Messages Consumed",
    "Consumer Lag",
    "Write Duration p99",
    "Rows Written Rate",
    "Batch Size p50 & p99",
    "Executions Rate",
    "Duration p99",
    "Cache Hit Ratio",
    "Degradation Level",
    "Circuit Breaker States",
    "Sequence Gaps",
)

RESOURCES = {resource: f"name-of-{resource.value}" for resource in Resource}


def test_at_least_the_old_panel_count() -> None:
    assert len(OLD_PANELS) == 15
    assert len(PLATFORM_DASHBOARD.panels) >= 15


def test_every_old_panel_is_re_expressed_exactly_once() -> None:
    replaced = [title for panel in PLATFORM_DASHBOARD.panels for title in panel.replaces]
    assert sorted(replaced) == sorted(OLD_PANELS)


def test_every_metric_on_the_dashboard_is_catalogued() -> None:
    assert uncatalogued(PLATFORM_DASHBOARD.panels, ()) == []
    assert uncatalogued(PLATFORM_DASHBOARD.panels, platform_alarms(AlarmThresholds())) == []


def test_an_uncatalogued_metric_is_reported() -> None:
    stray = MetricSpec(
        "Stray",
        Namespace.K2,
        (Dimension("service", "k2-api"),),
        Unit.COUNT,
        m.Component.API,
        "Not in the catalog.",
    )
    renamed_dimension = MetricSpec(
        m.FRAMES.name,
        m.FRAMES.namespace,
        (Dimension("service", m.FEED_SERVICE), Dimension("venue")),
        m.FRAMES.unit,
        m.FRAMES.component,
        m.FRAMES.meaning,
    )
    panel = Panel(
        "stray",
        PanelKind.TIMESERIES,
        "test",
        queries=(
            MetricQuery(stray, Statistic.SUM),
            MathQuery(
                "a + 1",
                (("a", MetricQuery(renamed_dimension, Statistic.SUM, values=(("venue", "x"),))),),
                "a",
            ),
        ),
        y_axis=YAxis(Unit.COUNT, "n"),
    )
    assert uncatalogued([panel], ()) == ["K2:Stray{service}", "K2:Frames{service,venue}"]


def test_the_feed_metrics_of_the_requirement_are_on_the_dashboard() -> None:
    shown = set(referenced_metrics(PLATFORM_DASHBOARD.panels, ()))
    for spec in (
        m.FRAMES,
        m.TRADES_PUBLISHED,
        m.DEAD_LETTERS,
        m.SILVER_DEAD_LETTERS_BY_REASON,
        m.GAPS_DETECTED,
        m.TRADES_BACKFILLED,
        m.RECONNECTS,
        m.CONSUMER_LAG,
        m.BATCH_DURATION,
        m.ROWS_WRITTEN,
        m.GOLD_TRADE_AGE,
        m.API_LATENCY,
        m.API_ERRORS,
    ):
        assert spec in shown, spec.name
    # Everything catalogued is on the dashboard: an unused entry would be dead weight.
    assert [spec.name for spec in CATALOG if spec not in shown] == []


def test_the_grid_is_valid() -> None:
    layout = PLATFORM_DASHBOARD.layout()
    for placement in layout:
        assert placement.x >= 0 and placement.x + placement.width <= GRID_COLUMNS, placement
        assert placement.height >= 1 and placement.y >= 0
    for first, second in itertools.combinations(layout, 2):
        assert not overlap(first, second), (first.title, second.title)
    headers = [placement for placement in layout if placement.panel is None]
    assert [header.title for header in headers] == [row.title for row in PLATFORM_DASHBOARD.rows]
    assert all(header.width == GRID_COLUMNS for header in headers)
    panels = [placement.panel for placement in layout if placement.panel is not None]
    assert panels == list(PLATFORM_DASHBOARD.panels)


def overlap(a: Placement, b: Placement) -> bool:
    return (
        a.x < b.x + b.width
        and b.x < a.x + a.width
        and a.y < b.y + b.height
        and b.y < a.y + a.height
    )


def test_rows_group_by_concern_and_fill_the_width() -> None:
    titles = [panel.title for panel in PLATFORM_DASHBOARD.panels]
    assert len(set(titles)) == len(titles)
    for row in PLATFORM_DASHBOARD.rows:
        assert sum(panel.width for panel in row.panels) == GRID_COLUMNS, row.title
    with pytest.raises(ValueError, match="wider"):
        DashboardRow("too wide", (PLATFORM_DASHBOARD.panels[0],) * 5)


def test_panel_kinds_are_consistent() -> None:
    kinds = {panel.kind for panel in PLATFORM_DASHBOARD.panels}
    assert kinds == set(PanelKind)
    for panel in PLATFORM_DASHBOARD.panels:
        if panel.kind is PanelKind.LOG_TABLE:
            assert panel.log_query is not None and panel.log_query.log_groups
            assert "| limit" in panel.log_query.query
        else:
            assert panel.queries
    with pytest.raises(ValueError, match="log query"):
        Panel("x", PanelKind.TIMESERIES, "x", log_query=LogQuery((), "fields @message"))
    with pytest.raises(ValueError, match="grid"):
        Panel("x", PanelKind.LOG_TABLE, "x", log_query=LogQuery((), "q"), width=25)


def test_log_tables_name_their_log_groups() -> None:
    queries = [panel.log_query for panel in PLATFORM_DASHBOARD.panels if panel.log_query]
    groups = {resource for query in queries for resource in query.log_groups}
    assert groups == {Resource.FEED_LOG_GROUP, Resource.API_LOG_GROUP}
    feed = LogQuery((Resource.FEED_LOG_GROUP, Resource.API_LOG_GROUP), "fields @message")
    names = {
        Resource.FEED_LOG_GROUP: ["feed-binance", "feed-kraken"],
        Resource.API_LOG_GROUP: "api",
    }
    assert feed.log_group_names(names) == ["feed-binance", "feed-kraken", "api"]


def test_search_expressions_split_by_the_open_dimensions() -> None:
    per_exchange = SearchQuery(m.TRADES_PUBLISHED, Statistic.SUM, 60)
    assert per_exchange.split_by == ("exchange",)
    assert per_exchange.expression(RESOURCES) == (
        'SEARCH(\'{K2,service,exchange} MetricName="TradesPublished" '
        "service=\"k2-feed-handler\"', 'Sum', 60)"
    )
    ecs = SearchQuery(m.ECS_MEMORY, Statistic.MAXIMUM, 300)
    assert 'ClusterName="name-of-feed_cluster"' in ecs.expression(RESOURCES)
    with pytest.raises(KeyError, match="feed_cluster"):
        ecs.expression({})
    with pytest.raises(ValueError, match="nothing to search"):
        SearchQuery(m.LAMBDA_ERRORS, Statistic.SUM)


def test_every_query_renders_with_the_deployment_names() -> None:
    for panel in PLATFORM_DASHBOARD.panels:
        for query in panel.queries:
            inner = [q for _, q in query.using] if isinstance(query, MathQuery) else [query]
            for single in inner:
                if isinstance(single, SearchQuery):
                    assert single.expression(RESOURCES).startswith("SEARCH('{")
                else:
                    dimensions = single.dimensions(RESOURCES)
                    assert set(dimensions) == set(single.metric.dimension_names)


def test_a_metric_query_needs_every_open_dimension() -> None:
    with pytest.raises(ValueError, match="exchange"):
        MetricQuery(m.TRADES_PUBLISHED, Statistic.SUM)
    query = MetricQuery(m.TRADES_PUBLISHED, Statistic.SUM, values=(("exchange", "kraken"),))
    assert query.dimensions(RESOURCES) == {"service": "k2-feed-handler", "exchange": "kraken"}
    with pytest.raises(ValueError, match="period"):
        MetricQuery(m.LAMBDA_ERRORS, Statistic.SUM, period_s=90)


def test_the_document_carries_the_current_panel_table() -> None:
    assert panel_table(PLATFORM_DASHBOARD) in DOC.read_text(encoding="utf-8")
