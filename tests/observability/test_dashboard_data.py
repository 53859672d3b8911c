"""GetMetricData requests built from the dashboard definition, and reading what comes back."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from k2.monitoring.dashboard import PLATFORM_DASHBOARD, PanelKind
from k2.monitoring.metrics import Resource, Unit
from k2.observability.dashboard_data import (
    RESULT_ID,
    Window,
    local_insights_gap,
    panel_requests,
    parse_since,
    series_from_results,
)

pytestmark = pytest.mark.unit

RESOURCES = {resource: f"name-of-{resource.value}" for resource in Resource}
_ID = re.compile(r"[a-z][a-zA-Z0-9_]*")
_GET_METRIC_DATA = (
    botocore.session.get_session()
    .get_service_model("cloudwatch")
    .operation_model("GetMetricData")
    .input_shape
)
METRIC_PANELS = [p for p in PLATFORM_DASHBOARD.panels if p.kind is not PanelKind.LOG_TABLE]


def _requests() -> list[tuple[str, list[dict[str, Any]]]]:
    return [
        (panel.title, list(request.metric_data_queries))
        for panel in METRIC_PANELS
        for request in panel_requests(panel, RESOURCES)
    ]


@pytest.mark.parametrize(("title", "queries"), _requests())
def test_every_panel_query_is_a_valid_get_metric_data_request(
    title: str, queries: list[dict[str, Any]]
) -> None:
    params = {
        "MetricDataQueries": queries,
        "StartTime": datetime(2026, 11, 26, 15, tzinfo=UTC),
        "EndTime": datetime(2026, 11, 26, 18, tzinfo=UTC),
        "ScanBy": "TimestampAscending",
    }
    report = ParamValidator().validate(params, _GET_METRIC_DATA)
    assert not report.has_errors(), report.generate_report()
    ids = [query["Id"] for query in queries]
    assert len(set(ids)) == len(ids)
    assert all(_ID.fullmatch(query_id) for query_id in ids)
    assert [q["Id"] for q in queries if q["ReturnData"]] == [RESULT_ID]
    for query in queries:
        assert ("MetricStat" in query) != ("Expression" in query)
        stat = query.get("MetricStat")
        if stat is not None:
            assert stat["Period"] in (60, 300)
            assert re.fullmatch(r"Sum|Average|Maximum|Minimum|SampleCount|p\d+", stat["Stat"])
            values = [dimension["Value"] for dimension in stat["Metric"]["Dimensions"]]
            assert all(value and "Resource." not in value for value in values)
        elif query["Expression"].startswith("SEARCH("):
            assert query["Period"] in (60, 300)
        else:  # metric math: it may only name the other queries of the request
            names = set(re.findall(r"\b[a-z][a-zA-Z0-9_]*\b", query["Expression"]))
            assert names <= set(ids) - {query["Id"]}, query["Expression"]


def test_every_metric_panel_has_requests_and_every_log_panel_none() -> None:
    for panel in PLATFORM_DASHBOARD.panels:
        requests = panel_requests(panel, RESOURCES)
        assert len(requests) == len(panel.queries)
        assert bool(requests) == (panel.kind is not PanelKind.LOG_TABLE)


def test_a_search_panel_sends_the_expression_and_dynamic_label_cloudwatch_expects() -> None:
    (request,) = panel_requests(PLATFORM_DASHBOARD.panels[0], RESOURCES)  # newest gold trade age
    assert list(request.metric_data_queries) == [
        {
            "Id": RESULT_ID,
            "ReturnData": True,
            "Expression": 'SEARCH(\'{K2,service,exchange} MetricName="GoldTradeAge" '
            "service=\"k2-freshness\"', 'Maximum', 60)",
            "Period": 60,
            "Label": "GoldTradeAge ${PROP('Dim.exchange')}",
        }
    ]
    assert request.unit is Unit.SECONDS


def test_a_metric_stat_carries_resolved_dimensions_and_a_percentile() -> None:
    panel = next(p for p in PLATFORM_DASHBOARD.panels if p.title == "Lambda duration p50 / p99")
    assert [list(r.metric_data_queries) for r in panel_requests(panel, RESOURCES)] == [
        [
            {
                "Id": RESULT_ID,
                "ReturnData": True,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "Duration",
                        "Dimensions": [{"Name": "FunctionName", "Value": "name-of-api_function"}],
                    },
                    "Period": 300,
                    "Stat": stat,
                },
                "Label": stat,
            }
        ]
        for stat in ("p50", "p99")
    ]


def test_metric_math_brings_its_inputs_unreturned_and_takes_the_axis_unit() -> None:
    panel = next(p for p in PLATFORM_DASHBOARD.panels if p.title.startswith("Scan efficiency"))
    (request,) = panel_requests(panel, RESOURCES)
    returned, scanned, shown = request.metric_data_queries
    assert (returned["Id"], returned["ReturnData"]) == ("returned", False)
    assert (scanned["Id"], scanned["ReturnData"]) == ("scanned", False)
    assert 'MetricName="RowsReturned"' in returned["Expression"]
    assert 'MetricName="RowsScanned"' in scanned["Expression"]
    assert shown == {
        "Id": RESULT_ID,
        "Expression": "100 * SUM(returned) / SUM(scanned)",
        "Label": "rows returned / rows scanned",
        "ReturnData": True,
    }
    assert request.unit is Unit.PERCENT


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("3h", timedelta(hours=3)),
        ("90m", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(minutes=90)),
        ("-PT3H", timedelta(hours=3)),
        ("PT15M", timedelta(minutes=15)),
    ],
)
def test_parse_since(text: str, length: timedelta) -> None:
    assert parse_since(text) == length


@pytest.mark.parametrize("text", ["", "3", "h", "3 hours", "0m", "-3h"])
def test_parse_since_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|zero"):
        parse_since(text)


def test_the_window_widens_to_period_boundaries() -> None:
    end = datetime(2026, 11, 26, 18, 2, 10, tzinfo=UTC)
    window = Window.ending(end, timedelta(hours=3), 300)
    assert window.start == datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    assert window.end == datetime(2026, 11, 26, 18, 5, tzinfo=UTC)
    assert Window.for_dashboard(PLATFORM_DASHBOARD, end, timedelta(hours=3)) == window


def test_the_dashboards_log_queries_are_not_run_on_moto() -> None:
    for panel in PLATFORM_DASHBOARD.panels:
        if panel.log_query is not None:
            gap = local_insights_gap(panel.log_query.query)
            assert gap is not None
            assert "`filter` is not evaluated" in gap
            assert "JSON fields" in gap


def test_a_query_moto_can_answer_is_run() -> None:
    query = "fields @timestamp, @message\n| sort @timestamp desc\n| limit 20"
    assert local_insights_gap(query) is None
    assert "`stats`" in (local_insights_gap("stats count(*) by bin(5m)") or "")


def test_results_from_several_pages_merge_per_series_in_time_order() -> None:
    t = [datetime(2026, 11, 26, 12, minute, tzinfo=UTC) for minute in range(4)]
    pages = [
        {"Id": "shown", "Label": "binance", "Timestamps": [t[2], t[3]], "Values": [3.0, 4.0]},
        {"Id": "shown", "Label": "kraken", "Timestamps": [t[0]], "Values": [float("nan")]},
        {"Id": "shown", "Label": "binance", "Timestamps": [t[0], t[1]], "Values": [1.0, 2.0]},
    ]
    binance, kraken = series_from_results(pages, Unit.COUNT)
    assert binance.label == "binance"
    assert binance.points == ((t[0], 1.0), (t[1], 2.0), (t[2], 3.0), (t[3], 4.0))
    assert binance.latest == (t[3], 4.0)
    assert kraken.points == ()
    assert kraken.latest is None
