"""The dashboard drawn from the real test cloud: datapoints put with PutMetricData come back through
the definition's own GetMetricData queries into a PNG and an HTML page, with latest values that
are worked out here from the datapoints, by hand."""

from __future__ import annotations

import io
import socket
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from rich.console import Console
from typer.testing import CliRunner

from k2.cli import app
from k2.local.cloud import LocalCloud
from k2.local.monitoring_resources import local_resources
from k2.monitoring import metrics as m
from k2.monitoring.dashboard import (
    GRID_COLUMNS,
    PLATFORM_DASHBOARD,
    Dashboard,
    LogQuery,
    Panel,
    PanelKind,
    YAxis,
)
from k2.monitoring.metrics import MetricSpec, Resource, Unit
from k2.monitoring.queries import MathQuery, MetricQuery, Statistic
from k2.observability.dashboard_command import render_dashboard
from k2.observability.dashboard_data import (
    NO_DATA,
    DashboardData,
    DashboardSource,
    LogTable,
    PanelData,
    Series,
    SourceUnavailableError,
    Window,
    fetch_dashboard,
    fetch_panel,
)
from k2.observability.dashboard_image import (
    COLUMN_PX,
    GRID_ROW_PX,
    HEADER_PX,
    render_html,
    render_png,
    window_text,
)
from k2.settings import K2Settings

# -- independent readers of what was written -------------------------------------------------------


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG signature and IHDR chunk (PNG spec, section 5)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", png[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def expected_size(dashboard: Dashboard) -> tuple[int, int]:
    """24 columns wide; each row a 1-unit header above its tallest panel; a header band on top."""
    units = sum(1 + max(panel.height for panel in row.panels) for row in dashboard.rows)
    return GRID_COLUMNS * COLUMN_PX, HEADER_PX + units * GRID_ROW_PX


class _Page(HTMLParser):
    """The latest-values table's rows and the panel titles of the HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.latest: list[list[str]] = []
        self.panel_titles: list[str] = []
        self._in_latest = False
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_title = False
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "table" and attributes.get("id") == "latest-values":
            self._in_latest = True
        elif self._in_latest and tag == "tr":
            self._row = []
        elif self._in_latest and tag == "td":
            self._cell = []
        elif tag == "h4":
            self._in_title = True
            self.panel_titles.append("")
        elif tag == "img" and (attributes.get("src") or "").startswith("data:image/png;base64,"):
            self.images += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_latest = False
        elif tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row:
            self.latest.append(self._row)
            self._row = None
        elif tag == "h4":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._in_title:
            self.panel_titles[-1] += data


def read_page(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


# -- drawing alone -------------------------------------------------------------------------------


@pytest.mark.unit
def test_the_png_has_the_grid_s_size_whatever_the_data() -> None:
    window = Window(datetime(2026, 11, 26, 15, tzinfo=UTC), datetime(2026, 11, 26, 18, tzinfo=UTC))
    points = tuple((window.start + timedelta(minutes=5 * i), float(i % 7)) for i in range(36))
    panels = []
    for index, panel in enumerate(PLATFORM_DASHBOARD.panels):
        if panel.kind is PanelKind.LOG_TABLE:
            rows = tuple((f"2026-11-26 17:{i:02d}", "binance", "WARNING", "x") for i in range(40))
            panels.append(PanelData(panel, log_table=LogTable(("@timestamp", "a", "b", "c"), rows)))
        elif index % 3:
            many = 12 if index % 2 else 150  # more lines than any legend has room for
            lines = tuple(Series(f"line {n}", Unit.COUNT, points) for n in range(many))
            panels.append(PanelData(panel, lines, notes=("p99 of X: GetMetricData failed",)))
        else:
            panels.append(PanelData(panel, notes=(NO_DATA,)))
    data = DashboardData(PLATFORM_DASHBOARD, window, "nowhere", tuple(panels))

    png = render_png(data)

    assert png_size(png) == expected_size(PLATFORM_DASHBOARD) == (1800, 2890)
    page = _Page()
    page.feed(render_html(data, png))
    assert page.panel_titles == [panel.title for panel in PLATFORM_DASHBOARD.panels]
    assert page.images == 1


@pytest.mark.unit
def test_the_header_says_the_window_in_utc_and_its_length() -> None:
    window = Window(
        datetime(2026, 11, 26, 15, tzinfo=UTC), datetime(2026, 11, 26, 18, 5, tzinfo=UTC)
    )
    assert window_text(window) == "2026-11-26 15:00 → 2026-11-26 18:05 UTC (3 h 5 min)"


@pytest.mark.unit
def test_latest_values_are_the_last_point_of_each_series_written_plainly() -> None:
    window = Window(datetime(2026, 11, 26, 15, tzinfo=UTC), datetime(2026, 11, 26, 18, tzinfo=UTC))
    first, last = window.start, window.start + timedelta(minutes=95)
    panels = [PanelData(panel, notes=(NO_DATA,)) for panel in PLATFORM_DASHBOARD.panels]
    panels[1] = PanelData(
        PLATFORM_DASHBOARD.panels[1],
        (
            Series("a", Unit.SECONDS, ((first, 2.0), (last, 1234.5))),
            Series("b", Unit.SECONDS, ((first, 0.125),)),
        ),
    )
    data = DashboardData(PLATFORM_DASHBOARD, window, "nowhere", tuple(panels))
    page = _Page()
    page.feed(render_html(data, b"png"))
    title = PLATFORM_DASHBOARD.panels[1].title
    rows = [row[2:] for row in page.latest if row[1] == title]
    assert rows == [
        ["a", "1,234.5", "s", "2026-11-26 16:35"],
        ["b", "0.12", "s", "2026-11-26 15:00"],
    ]


# -- from the test cloud ---------------------------------------------------------------------------

ENVIRONMENT = "dashtest"
"""Resource names of their own (k2-dashtest-api...), so no other test's datapoints mix in."""
EXCHANGE = "dashtest-exchange"


@dataclass(frozen=True)
class Put:
    metric: MetricSpec
    dimensions: dict[str, str]
    at: datetime
    value: float


@dataclass(frozen=True)
class Scenario:
    end: datetime
    resources: dict[Resource, str]

    @property
    def start(self) -> datetime:
        return self.end - timedelta(hours=3)

    def minutes_before_end(self, minutes: float) -> datetime:
        return self.end - timedelta(minutes=minutes)


def _put(cloud: LocalCloud, puts: list[Put]) -> None:
    client = cloud.layout.aws_client("cloudwatch")
    for put in puts:
        client.put_metric_data(
            Namespace=put.metric.namespace.value,
            MetricData=[
                {
                    "MetricName": put.metric.name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in put.dimensions.items()],
                    "Timestamp": put.at,
                    "Value": put.value,
                    "Unit": put.metric.unit.value,
                }
            ],
        )


@pytest.fixture(scope="module")
def scenario(local_cloud: LocalCloud) -> Scenario:
    """Datapoints in a 3-hour window that ended yesterday on the hour (other tests write now)."""
    now = datetime.now(UTC)
    end = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    resources = local_resources(K2Settings(environment=ENVIRONMENT))
    s = Scenario(end, resources)
    function = {"FunctionName": resources[Resource.API_FUNCTION]}
    api = {"ApiName": resources[Resource.API_NAME]}
    rule = {"RuleName": resources[Resource.JOB_FAILURE_RULE]}
    feed = {"service": m.FEED_SERVICE, "exchange": EXCHANGE}
    freshness = {"service": m.FRESHNESS_SERVICE, "exchange": EXCHANGE}
    route_a = {"service": m.API_SERVICE, "route": "/dashtest/a"}
    route_b = {"service": m.API_SERVICE, "route": "/dashtest/b"}
    puts = [
        # Invocations: 5 at end-60m; 3 + 4 in the minute starting end-30m (Sum per 60 s: 7)
        Put(m.LAMBDA_INVOCATIONS, function, s.minutes_before_end(60) + timedelta(seconds=5), 5),
        Put(m.LAMBDA_INVOCATIONS, function, s.minutes_before_end(30) + timedelta(seconds=10), 3),
        Put(m.LAMBDA_INVOCATIONS, function, s.minutes_before_end(30) + timedelta(seconds=50), 4),
        # Errors: 1 + 2 in the minute starting end-20m (3)
        Put(m.LAMBDA_ERRORS, function, s.minutes_before_end(20) + timedelta(seconds=5), 1),
        Put(m.LAMBDA_ERRORS, function, s.minutes_before_end(20) + timedelta(seconds=55), 2),
        # API Gateway requests: 12.5 at end-90m, then 10 at end-10m
        Put(m.GATEWAY_COUNT, api, s.minutes_before_end(90), 12.5),
        Put(m.GATEWAY_COUNT, api, s.minutes_before_end(10) + timedelta(seconds=1), 10),
        # failed job runs, 5-minute Sum: end-14m and end-12m share [end-15m, end-10m) (2)
        Put(m.JOB_FAILURE_EVENTS, rule, s.minutes_before_end(14), 1),
        Put(m.JOB_FAILURE_EVENTS, rule, s.minutes_before_end(12), 1),
        # Lambda duration: one datapoint per 5 minutes, so p50 = p99 = the value (needs the
        # local endpoint's percentiles)
        Put(m.LAMBDA_DURATION, function, s.minutes_before_end(7), 123.5),
        # SEARCH panels: lines for an exchange and routes of this test's own
        Put(m.TRADES_PUBLISHED, feed, s.minutes_before_end(3), 42),
        Put(m.GOLD_TRADE_AGE, freshness, s.minutes_before_end(2), 17),
        Put(m.GOLD_TRADE_AGE, freshness, s.minutes_before_end(2) + timedelta(seconds=30), 9),
        # metric math: 100 * SUM(returned) / SUM(scanned) over both routes, in [end-10m, end-5m)
        Put(m.API_ROWS_RETURNED, route_a, s.minutes_before_end(8), 30),
        Put(m.API_ROWS_SCANNED, route_a, s.minutes_before_end(8), 120),
        Put(m.API_ROWS_RETURNED, route_b, s.minutes_before_end(6), 10),
        Put(m.API_ROWS_SCANNED, route_b, s.minutes_before_end(6), 80),
    ]
    _put(local_cloud, puts)
    return s


def _at(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"


def _render(cloud: LocalCloud, scenario: Scenario, folder: Path) -> tuple[DashboardData, str]:
    output = io.StringIO()
    data = render_dashboard(
        _source(cloud, scenario, insights=False),
        timedelta(hours=3),
        folder / "dashboard.png",
        folder / "dashboard.html",
        Console(file=output, width=200),
        end=scenario.end,
    )
    return data, output.getvalue()


@pytest.mark.integration
def test_the_dashboard_renders_the_values_put_into_cloudwatch(
    local_cloud: LocalCloud, scenario: Scenario, tmp_path: Path
) -> None:
    data, printed = _render(local_cloud, scenario, tmp_path)

    png = (tmp_path / "dashboard.png").read_bytes()
    assert png_size(png) == expected_size(PLATFORM_DASHBOARD)
    page = read_page(tmp_path / "dashboard.html")
    assert page.panel_titles == [panel.title for panel in PLATFORM_DASHBOARD.panels]
    assert page.images == 1
    latest = {(row[1], row[2]): row[3:] for row in page.latest}
    s = scenario
    assert latest[("Lambda invocations, errors and throttles", "invocations")] == [
        "7",
        "count",
        _at(s.minutes_before_end(30)),
    ]
    assert latest[("Lambda invocations, errors and throttles", "errors")] == [
        "3",
        "count",
        _at(s.minutes_before_end(20)),
    ]
    assert ("Lambda invocations, errors and throttles", "throttles") not in latest
    assert latest[("API requests by route", "API Gateway (all)")] == [
        "10",
        "count",
        _at(s.minutes_before_end(10)),
    ]
    assert latest[("Spark job failures", "failed job runs")] == [
        "2",
        "count",
        _at(s.minutes_before_end(15)),
    ]
    # every point of the window came back, in its bucket
    api = data.panel("API requests by route")
    gateway = next(line for line in api.series if line.label == "API Gateway (all)")
    assert gateway.points == ((s.minutes_before_end(90), 12.5), (s.minutes_before_end(10), 10.0))
    # a panel nobody wrote to says so instead of failing
    cpu = data.panel("Feed handler CPU and memory")
    assert cpu.notes == (NO_DATA,)
    assert latest[("Feed handler CPU and memory", "—")] == [NO_DATA, "", ""]
    # log panels: moto's Logs Insights would ignore their filters, so they are not run
    for title in ("Feed handler warnings and errors", "Recent API 5xx requests"):
        (note,) = data.panel(title).notes
        assert note.startswith("not available locally: ")
    assert "have data" in printed


@pytest.mark.integration
def test_percentile_search_and_math_panels_read_the_local_endpoint(
    local_cloud: LocalCloud, scenario: Scenario, tmp_path: Path
) -> None:
    data, _ = _render(local_cloud, scenario, tmp_path)
    s = scenario
    duration = data.panel("Lambda duration p50 / p99")
    assert duration.notes == ()
    assert {line.label: line.points for line in duration.series} == {
        stat: ((s.minutes_before_end(10), 123.5),) for stat in ("p50", "p99")
    }
    latest = {(row[1], row[2]): row[3:] for row in read_page(tmp_path / "dashboard.html").latest}
    assert latest[("Trades and quotes published to Kafka", f"TradesPublished {EXCHANGE}")] == [
        "42",
        "count",
        _at(s.minutes_before_end(3)),
    ]
    for title in ("Newest gold trade age", "Gold trade age by exchange"):
        assert latest[(title, f"GoldTradeAge {EXCHANGE}")] == [
            "17",
            "s",
            _at(s.minutes_before_end(2)),
        ]
    efficiency = data.panel("Scan efficiency: rows returned per row scanned")
    (line,) = efficiency.series
    assert line.label == "rows returned / rows scanned"
    assert line.latest == (s.minutes_before_end(10), 100 * (30 + 10) / (120 + 80))


@pytest.mark.integration
def test_k2_dashboard_writes_png_and_html_from_the_local_cloud(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    settings = local_cloud.layout.settings.model_dump()
    environment = {f"K2_LOCAL_{name.upper()}": str(value) for name, value in settings.items()}
    png = tmp_path / "img" / "dashboard.png"

    result = CliRunner().invoke(
        app,
        ["dashboard", "--since", "1h", "--output", str(png)],
        env={**environment, "COLUMNS": "200"},
    )

    assert result.exit_code == 0, result.output
    assert png_size(png.read_bytes()) == expected_size(PLATFORM_DASHBOARD)
    page = read_page(png.with_suffix(".html"))
    assert page.panel_titles == [panel.title for panel in PLATFORM_DASHBOARD.panels]
    assert f"of {len(PLATFORM_DASHBOARD.panels)} panels have data" in result.output


def _source(cloud: LocalCloud, scenario: Scenario, *, insights: bool) -> DashboardSource:
    return DashboardSource(
        cloudwatch=cloud.layout.aws_client("cloudwatch"),
        logs=cloud.layout.aws_client("logs"),
        resources=scenario.resources,
        description=f"test cloud, {cloud.layout.aws_endpoint_url}",
        evaluates_logs_insights=insights,
    )


@pytest.mark.integration
def test_a_query_the_endpoint_refuses_becomes_a_note_beside_the_others(
    local_cloud: LocalCloud, scenario: Scenario
) -> None:
    invocations = MetricQuery(m.LAMBDA_INVOCATIONS, Statistic.SUM, 60, (), label="invocations")
    panel = Panel(
        "one good query, one refused",
        PanelKind.TIMESERIES,
        "a query CloudWatch refuses must not hide the rest",
        queries=(MathQuery("NO_SUCH_FUNCTION(a)", (("a", invocations),), "broken"), invocations),
        y_axis=YAxis(Unit.COUNT, "per minute"),
    )
    window = Window(scenario.start, scenario.end)

    data = fetch_panel(panel, window, _source(local_cloud, scenario, insights=False))

    (note,) = data.notes
    assert note.startswith("broken: GetMetricData failed (")
    (line,) = data.series
    assert line.label == "invocations"
    assert line.latest == (scenario.minutes_before_end(30), 7.0)


@pytest.mark.integration
def test_a_log_query_the_endpoint_can_answer_is_run(
    local_cloud: LocalCloud, scenario: Scenario
) -> None:
    logs = local_cloud.layout.aws_client("logs")
    group = "/k2/dashtest/log-panel"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    messages = [f"event {i}" for i in range(5)]
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {
                "timestamp": int((scenario.minutes_before_end(50 - i)).timestamp() * 1000),
                "message": message,
            }
            for i, message in enumerate(messages)
        ],
    )
    query = "fields @timestamp, @message\n| sort @timestamp desc\n| limit 3"
    window = Window(scenario.start, scenario.end)
    source = _source(local_cloud, scenario, insights=False)
    source.log_groups = {
        Resource.FEED_LOG_GROUP: group,
        Resource.API_LOG_GROUP: "/k2/dashtest/none",
    }

    found = fetch_panel(_log_panel(Resource.FEED_LOG_GROUP, query), window, source)
    missing = fetch_panel(_log_panel(Resource.API_LOG_GROUP, query), window, source)

    assert found.log_table is not None
    assert found.log_table.columns == ("@timestamp", "@message")
    assert [row[1] for row in found.log_table.rows] == ["event 4", "event 3", "event 2"]
    assert found.notes == ()
    (note,) = missing.notes
    assert note.startswith("no log group yet")


def _log_panel(resource: Resource, query: str) -> Panel:
    return Panel(
        "log panel",
        PanelKind.LOG_TABLE,
        "recent events",
        log_query=LogQuery((resource,), query),
    )


@pytest.mark.integration
def test_an_unreachable_endpoint_stops_the_rendering_with_one_error() -> None:
    with socket.socket() as closed:  # a port nothing listens on: bound, never listening
        closed.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
        client = boto3.client(
            "cloudwatch",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="k2-local",
            aws_secret_access_key="k2-local",
            config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2),
        )
        source = DashboardSource(client, client, {}, endpoint)
        window = Window(
            datetime(2026, 11, 26, 15, tzinfo=UTC), datetime(2026, 11, 26, 18, tzinfo=UTC)
        )
        with pytest.raises(SourceUnavailableError, match=endpoint):
            fetch_dashboard(PLATFORM_DASHBOARD, window, source)
