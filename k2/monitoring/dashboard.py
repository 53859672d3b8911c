"""The platform dashboard as data: rows of panels in CloudWatch's 24-column grid.

The CDK observability stack renders it into a CloudWatch dashboard (a text header per row, then
the row's panels left to right); a local renderer can draw the same definition. Each panel says
which panel of the system we rebuilt it replaces (``replaces``, titles from the reference
specification §11.4), so nothing that system watched is lost in the move to CloudWatch.
Per-exchange, per-route and per-table breakdowns are ``SEARCH`` queries (see
:mod:`k2.monitoring.queries`): lines appear for whatever reports, with no list to maintain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from k2.monitoring import metrics as m
from k2.monitoring.metrics import Resource, Unit
from k2.monitoring.queries import MathQuery, MetricQuery, Query, SearchQuery, Statistic

GRID_COLUMNS = 24
"""CloudWatch dashboards are 24 columns wide."""


class PanelKind(StrEnum):
    TIMESERIES = "timeseries"
    SINGLE_VALUE = "single_value"
    LOG_TABLE = "log_table"


@dataclass(frozen=True)
class YAxis:
    unit: Unit
    label: str
    minimum: float | None = 0.0


@dataclass(frozen=True)
class LogQuery:
    """A CloudWatch Logs Insights query over the log groups the deployment names."""

    log_groups: tuple[Resource, ...]
    query: str

    def log_group_names(self, resources: Mapping[Resource, str | Sequence[str]]) -> list[str]:
        """The real names; a resource may stand for several groups (one per feed service)."""
        names: list[str] = []
        for resource in self.log_groups:
            value = resources[resource]
            names.extend([value] if isinstance(value, str) else value)
        return names


@dataclass(frozen=True)
class Panel:
    title: str
    kind: PanelKind
    why: str
    """The question the panel answers."""
    queries: tuple[Query, ...] = ()
    y_axis: YAxis | None = None
    log_query: LogQuery | None = None
    width: int = 8
    height: int = 6
    replaces: tuple[str, ...] = ()
    """Titles of the reference system's Grafana panels this one re-expresses."""

    def __post_init__(self) -> None:
        if not 1 <= self.width <= GRID_COLUMNS or self.height < 1:
            raise ValueError(f"{self.title}: {self.width}x{self.height} does not fit the grid")
        if (self.kind is PanelKind.LOG_TABLE) != (self.log_query is not None):
            raise ValueError(f"{self.title}: a log table, and only a log table, has a log query")
        if (self.kind is PanelKind.LOG_TABLE) == bool(self.queries):
            raise ValueError(f"{self.title}: metric panels need queries, log tables none")
        if (self.kind is PanelKind.TIMESERIES) != (self.y_axis is not None):
            raise ValueError(f"{self.title}: a time series, and only a time series, has a y axis")


@dataclass(frozen=True)
class DashboardRow:
    """Panels about one concern, side by side on one line of the grid."""

    title: str
    panels: tuple[Panel, ...]

    def __post_init__(self) -> None:
        if sum(panel.width for panel in self.panels) > GRID_COLUMNS:
            raise ValueError(f"row {self.title!r} is wider than {GRID_COLUMNS} columns")

    @property
    def height(self) -> int:
        return max(panel.height for panel in self.panels)


@dataclass(frozen=True)
class Placement:
    """Where a row header (``panel`` None) or a panel sits in the grid."""

    title: str
    x: int
    y: int
    width: int
    height: int
    panel: Panel | None = None


ROW_HEADER_HEIGHT = 1


@dataclass(frozen=True)
class Dashboard:
    name_suffix: str
    """The CDK app names the dashboard ``DeploymentConfig.resource_name(name_suffix)``."""
    title: str
    default_range: str
    """ISO 8601 duration before now (CloudWatch ``start``)."""
    rows: tuple[DashboardRow, ...]

    @property
    def panels(self) -> tuple[Panel, ...]:
        return tuple(panel for row in self.rows for panel in row.panels)

    def layout(self) -> tuple[Placement, ...]:
        """Each row: a full-width header, then its panels left to right below it."""
        placements: list[Placement] = []
        y = 0
        for row in self.rows:
            placements.append(Placement(row.title, 0, y, GRID_COLUMNS, ROW_HEADER_HEIGHT))
            y += ROW_HEADER_HEIGHT
            x = 0
            for panel in row.panels:
                placements.append(Placement(panel.title, x, y, panel.width, panel.height, panel))
                x += panel.width
            y += row.height
        return tuple(placements)


# -- queries used more than once ------------------------------------------------------------------

_EXCHANGE = "${PROP('Dim.exchange')}"
_ROUTE = "${PROP('Dim.route')}"
_TABLE = "${PROP('Dim.table')}"


def _by_exchange(metric: m.MetricSpec, statistic: Statistic, period_s: int = 60) -> SearchQuery:
    return SearchQuery(metric, statistic, period_s, label=f"{metric.name} {_EXCHANGE}")


def _timeseries(
    title: str, why: str, axis: YAxis, *queries: Query, width: int = 8, replaces: str = ""
) -> Panel:
    return Panel(
        title,
        PanelKind.TIMESERIES,
        why,
        queries=queries,
        y_axis=axis,
        width=width,
        replaces=(replaces,) if replaces else (),
    )


_COUNT_PER_MIN = YAxis(Unit.COUNT, "per minute")
_COUNT_PER_5MIN = YAxis(Unit.COUNT, "per 5 minutes")
_MS = YAxis(Unit.MILLISECONDS, "ms")

# -- rows ------------------------------------------------------------------------------------------

FRESHNESS = DashboardRow(
    "Freshness: how old is the newest trade in gold?",
    (
        Panel(
            "Newest gold trade age",
            PanelKind.SINGLE_VALUE,
            "Is the lake keeping up, per exchange, right now? (the platform's degradation level)",
            queries=(_by_exchange(m.GOLD_TRADE_AGE, Statistic.MAXIMUM),),
            width=6,
            replaces=("Degradation Level",),
        ),
        _timeseries(
            "Gold trade age by exchange",
            "When did the lake fall behind, and did it recover?",
            YAxis(Unit.SECONDS, "seconds"),
            _by_exchange(m.GOLD_TRADE_AGE, Statistic.MAXIMUM),
            width=18,
        ),
    ),
)

FEEDS = DashboardRow(
    "Feed handlers: exchange WebSocket → Kafka",
    (
        _timeseries(
            "Trades and quotes published to Kafka",
            "Messages out per exchange: is each feed producing?",
            _COUNT_PER_MIN,
            _by_exchange(m.TRADES_PUBLISHED, Statistic.SUM),
            _by_exchange(m.QUOTES_PUBLISHED, Statistic.SUM),
            replaces="Messages Produced",
        ),
        _timeseries(
            "WebSocket frames received and queue depth",
            "Messages in per exchange, and whether the handler keeps up with them.",
            _COUNT_PER_MIN,
            _by_exchange(m.FRAMES, Statistic.SUM),
            _by_exchange(m.QUEUE_DEPTH, Statistic.MAXIMUM),
        ),
        _timeseries(
            "Exchange → Kafka lag p50 / p99",
            "How late a trade reaches Kafka after the exchange executed it.",
            _MS,
            _by_exchange(m.LAG_P50, Statistic.MAXIMUM),
            _by_exchange(m.LAG_P99, Statistic.MAXIMUM),
        ),
    ),
)

CONNECTIONS = DashboardRow(
    "Feed connections, gaps and duplicates",
    (
        _timeseries(
            "Reconnects, rotations and stale connections",
            "Connection health per exchange (what the circuit breakers guarded before).",
            _COUNT_PER_5MIN,
            *(
                _by_exchange(metric, Statistic.SUM, 300)
                for metric in (
                    m.RECONNECTS,
                    m.ROTATIONS,
                    m.STALE_CONNECTIONS,
                    m.CONNECT_FAILURES,
                    m.SERVER_SHUTDOWN_NOTICES,
                )
            ),
            replaces="Circuit Breaker States",
        ),
        _timeseries(
            "Trade-id gaps: detected, backfilled, unfilled",
            "Were gaps filled from REST, or is data lost (unfilled ids)?",
            _COUNT_PER_5MIN,
            *(
                _by_exchange(metric, Statistic.SUM, 300)
                for metric in (
                    m.GAPS_DETECTED,
                    m.TRADE_IDS_MISSING,
                    m.TRADES_BACKFILLED,
                    m.BACKFILL_ERRORS,
                    m.UNFILLED_TRADE_IDS,
                )
            ),
            replaces="Sequence Gaps",
        ),
        _timeseries(
            "Duplicates dropped and exchange errors",
            "Replays and overlaps absorbed by deduplication; errors the exchange reported.",
            _COUNT_PER_5MIN,
            _by_exchange(m.DUPLICATE_TRADES_DROPPED, Statistic.SUM, 300),
            _by_exchange(m.DUPLICATE_QUOTES_DROPPED, Statistic.SUM, 300),
            _by_exchange(m.EXCHANGE_ERRORS, Statistic.SUM, 300),
        ),
    ),
)

DEAD_LETTERS = DashboardRow(
    "Dead letters and validation failures",
    (
        _timeseries(
            "Dead letters by exchange",
            "Frames the feed could not parse, and records silver refused.",
            _COUNT_PER_5MIN,
            _by_exchange(m.DEAD_LETTERS, Statistic.SUM, 300),
            _by_exchange(m.SILVER_DEAD_LETTERS, Statistic.SUM, 300),
            width=12,
        ),
        _timeseries(
            "Silver DLQ by reason",
            "Why records were refused (decode, schema, normalise, validate codes).",
            _COUNT_PER_5MIN,
            SearchQuery(
                m.SILVER_DEAD_LETTERS_BY_REASON,
                Statistic.SUM,
                300,
                label="${PROP('Dim.exchange')} ${PROP('Dim.reason')}",
            ),
            width=12,
        ),
    ),
)

JOBS = DashboardRow(
    "Spark jobs: Kafka → bronze → silver → gold → OHLCV",
    (
        _timeseries(
            "Kafka records consumed into bronze",
            "Messages consumed per bronze table (one per exchange and data type).",
            _COUNT_PER_5MIN,
            SearchQuery(
                m.ROWS_WRITTEN, Statistic.SUM, 300, filters=(("job", "bronze"),), label=_TABLE
            ),
            replaces="Messages Consumed",
        ),
        _timeseries(
            "Bronze consumer lag by topic",
            "Records in Kafka not yet in bronze when the last batch ended.",
            YAxis(Unit.COUNT, "records behind"),
            SearchQuery(m.CONSUMER_LAG, Statistic.MAXIMUM, 300, label="${PROP('Dim.topic')}"),
            replaces="Consumer Lag",
        ),
        _timeseries(
            "Spark job failures",
            "Job runs that failed or timed out, and failed Spark tasks per Glue job.",
            _COUNT_PER_5MIN,
            MetricQuery(m.JOB_FAILURE_EVENTS, Statistic.SUM, 300, label="failed job runs"),
            SearchQuery(
                m.GLUE_FAILED_TASKS, Statistic.SUM, 300, label="${PROP('Dim.JobName')} tasks"
            ),
        ),
    ),
)

LAKE_WRITES = DashboardRow(
    "Lake writes: Iceberg commits",
    (
        _timeseries(
            "Batch duration p99 by table",
            "Slow commits: a batch taking longer than its trigger interval falls behind.",
            _MS,
            SearchQuery(m.BATCH_DURATION, Statistic.P99, 300, label=_TABLE),
            replaces="Write Duration p99",
        ),
        _timeseries(
            "Rows written by table",
            "Throughput of every layer, bronze to OHLCV.",
            _COUNT_PER_5MIN,
            SearchQuery(m.ROWS_WRITTEN, Statistic.SUM, 300, label=_TABLE),
            replaces="Rows Written Rate",
        ),
        _timeseries(
            "Batch size p50 / p99 by table",
            "Rows per commit: tiny batches mean many small files to compact.",
            YAxis(Unit.COUNT, "rows per batch"),
            SearchQuery(m.ROWS_WRITTEN, Statistic.P50, 300, label=f"p50 {_TABLE}"),
            SearchQuery(m.ROWS_WRITTEN, Statistic.P99, 300, label=f"p99 {_TABLE}"),
            replaces="Batch Size p50 & p99",
        ),
    ),
)

API = DashboardRow(
    "API: requests, latency, errors",
    (
        _timeseries(
            "API requests by route",
            "Who asks what, and how much.",
            _COUNT_PER_MIN,
            SearchQuery(m.API_REQUESTS, Statistic.SUM, 60, label=_ROUTE),
            MetricQuery(m.GATEWAY_COUNT, Statistic.SUM, 60, label="API Gateway (all)"),
            replaces="API Request Rate",
        ),
        _timeseries(
            "API latency p99 by route",
            "Slow routes, and the latency a client sees at API Gateway.",
            _MS,
            SearchQuery(m.API_LATENCY, Statistic.P99, 300, label=_ROUTE),
            MetricQuery(m.GATEWAY_LATENCY, Statistic.P99, 300, label="API Gateway p99"),
            replaces="API Latency p99",
        ),
        _timeseries(
            "API errors by code and route",
            "Error responses by K2 error code, by route, and API Gateway's 4xx/5xx.",
            _COUNT_PER_5MIN,
            SearchQuery(
                m.API_ERRORS,
                Statistic.SUM,
                300,
                label="${PROP('Dim.status')} ${PROP('Dim.code')}",
            ),
            SearchQuery(
                m.API_ERRORS_BY_ROUTE,
                Statistic.SUM,
                300,
                label="${PROP('Dim.status')} ${PROP('Dim.route')}",
            ),
            MetricQuery(m.GATEWAY_4XX, Statistic.SUM, 300, label="API Gateway 4xx"),
            MetricQuery(m.GATEWAY_5XX, Statistic.SUM, 300, label="API Gateway 5xx"),
            replaces="API Error Rate",
        ),
    ),
)

QUERY_ENGINE = DashboardRow(
    "Query engine: DuckDB over Iceberg inside the API Lambda",
    (
        _timeseries(
            "Lambda invocations, errors and throttles",
            "Every query runs in one invocation: its execution rate and failures.",
            _COUNT_PER_MIN,
            MetricQuery(m.LAMBDA_INVOCATIONS, Statistic.SUM, 60, label="invocations"),
            MetricQuery(m.LAMBDA_ERRORS, Statistic.SUM, 60, label="errors"),
            MetricQuery(m.LAMBDA_THROTTLES, Statistic.SUM, 60, label="throttles"),
            replaces="Executions Rate",
            width=6,
        ),
        _timeseries(
            "Lambda duration p50 / p99",
            "Query time including cold starts.",
            _MS,
            MetricQuery(m.LAMBDA_DURATION, Statistic.P50, 300, label="p50"),
            MetricQuery(m.LAMBDA_DURATION, Statistic.P99, 300, label="p99"),
            replaces="Duration p99",
            width=6,
        ),
        _timeseries(
            "Scan efficiency: rows returned per row scanned",
            "How well partition and file pruning work (there is no cache to hit).",
            YAxis(Unit.PERCENT, "% of scanned rows returned"),
            MathQuery(
                "100 * SUM(returned) / SUM(scanned)",
                (
                    ("returned", SearchQuery(m.API_ROWS_RETURNED, Statistic.SUM, 300)),
                    ("scanned", SearchQuery(m.API_ROWS_SCANNED, Statistic.SUM, 300)),
                ),
                label="rows returned / rows scanned",
                period_s=300,
            ),
            replaces="Cache Hit Ratio",
            width=6,
        ),
        _timeseries(
            "Files scanned per request by route",
            "Many small files make every query slow: time for compaction?",
            YAxis(Unit.COUNT, "files per request"),
            SearchQuery(m.API_FILES_SCANNED, Statistic.AVERAGE, 300, label=_ROUTE),
            width=6,
        ),
    ),
)

_FEED_ERRORS_QUERY = (
    "fields @timestamp, exchange, level, message\n"
    '| filter level in ["WARNING", "ERROR", "CRITICAL"]\n'
    "| sort @timestamp desc\n"
    "| limit 50"
)
_API_5XX_QUERY = (
    "fields @timestamp, route, status, error_code, duration_ms, correlation_id\n"
    '| filter message = "request" and status >= 500\n'
    "| sort @timestamp desc\n"
    "| limit 50"
)

RUNTIME = DashboardRow(
    "Feed handler tasks and logs",
    (
        _timeseries(
            "Feed handler CPU and memory",
            "A growing memory line is a leak; CPU near 100% means frames queue up.",
            YAxis(Unit.PERCENT, "% of reservation"),
            SearchQuery(m.ECS_CPU, Statistic.MAXIMUM, 300, label="CPU ${PROP('Dim.ServiceName')}"),
            SearchQuery(
                m.ECS_MEMORY, Statistic.MAXIMUM, 300, label="memory ${PROP('Dim.ServiceName')}"
            ),
        ),
        Panel(
            "Feed handler warnings and errors",
            PanelKind.LOG_TABLE,
            "What the feed handlers complained about most recently.",
            log_query=LogQuery((Resource.FEED_LOG_GROUP,), _FEED_ERRORS_QUERY),
            width=16,
        ),
    ),
)

API_LOGS = DashboardRow(
    "API logs",
    (
        Panel(
            "Recent API 5xx requests",
            PanelKind.LOG_TABLE,
            "The failing requests, with the correlation id to find their full log.",
            log_query=LogQuery((Resource.API_LOG_GROUP,), _API_5XX_QUERY),
            width=24,
        ),
    ),
)

PLATFORM_DASHBOARD = Dashboard(
    name_suffix="platform",
    title="K2 market-data platform",
    default_range="-PT3H",
    rows=(
        FRESHNESS,
        FEEDS,
        CONNECTIONS,
        DEAD_LETTERS,
        JOBS,
        LAKE_WRITES,
        API,
        QUERY_ENGINE,
        RUNTIME,
        API_LOGS,
    ),
)
