"""The data behind each panel of a dashboard definition, read from CloudWatch as the console would.

The requests are built from :mod:`k2.monitoring`'s definitions with the same query text the CDK
widgets carry (``SEARCH`` expressions, metric math, ``MetricStat`` with percentiles), so what a
rendered dashboard shows is what the deployed one shows; only the endpoint differs (AWS, or the
local cloud's). Request building is pure; :func:`fetch_dashboard` is the thin shell around
``GetMetricData`` and Logs Insights. A panel that cannot be read gets a note saying why instead
of failing the whole dashboard.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from k2.monitoring.dashboard import Dashboard, LogQuery, Panel, PanelKind
from k2.monitoring.metrics import Resource, Resources, Unit
from k2.monitoring.queries import MathQuery, MetricQuery, Query, SearchQuery

RESULT_ID = "shown"
"""The id of the query whose results a panel draws (inner metric-math queries keep theirs)."""

LogGroups = Mapping[Resource, str | Sequence[str]]

# -- the time window -------------------------------------------------------------------------------

_SINCE = re.compile(r"(\d+)\s*([smhdw])")
_SINCE_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ISO_DURATION = re.compile(r"-?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def parse_since(text: str) -> timedelta:
    """``3h``, ``90m``, ``2d``, ``1h30m``, or an ISO 8601 duration such as ``-PT3H``."""
    cleaned = text.strip().lower()
    iso = _ISO_DURATION.fullmatch(text.strip().upper())
    if iso and any(iso.groups()):
        days, hours, minutes, seconds = (int(part or 0) for part in iso.groups())
        return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    parts = _SINCE.findall(cleaned)
    if not parts or _SINCE.sub("", cleaned).strip():
        raise ValueError(f"not a duration: {text!r} (try 3h, 90m, 2d)")
    length = timedelta(seconds=sum(int(n) * _SINCE_SECONDS[unit] for n, unit in parts))
    if length <= timedelta(0):
        raise ValueError(f"the window must be longer than zero: {text!r}")
    return length


def default_length(dashboard: Dashboard) -> timedelta:
    """The window the dashboard opens with in the console (its ``default_range``)."""
    return parse_since(dashboard.default_range)


def query_periods(dashboard: Dashboard) -> set[int]:
    return {query.period_s for panel in dashboard.panels for query in panel.queries}


@dataclass(frozen=True)
class Window:
    """``[start, end)`` in UTC; the bounds sit on the longest period of the dashboard, so every
    query's buckets line up with CloudWatch's (which starts them on period boundaries)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.end <= self.start:
            raise ValueError(f"empty window: {self.start} .. {self.end}")

    @classmethod
    def ending(cls, end: datetime, length: timedelta, align_s: int) -> Window:
        """The window of ``length`` ending at ``end``, widened outwards to ``align_s`` bounds."""
        end_s = math.ceil(end.timestamp() / align_s) * align_s
        start_s = math.floor((end.timestamp() - length.total_seconds()) / align_s) * align_s
        return cls(datetime.fromtimestamp(start_s, UTC), datetime.fromtimestamp(end_s, UTC))

    @classmethod
    def for_dashboard(cls, dashboard: Dashboard, end: datetime, length: timedelta) -> Window:
        return cls.ending(end, length, max(query_periods(dashboard), default=60))


# -- GetMetricData requests ------------------------------------------------------------------------


def _metric_stat(query: MetricQuery, resources: Resources) -> dict[str, Any]:
    return {
        "Metric": {
            "Namespace": query.metric.namespace.value,
            "MetricName": query.metric.name,
            "Dimensions": [
                {"Name": name, "Value": value}
                for name, value in query.dimensions(resources).items()
            ],
        },
        "Period": query.period_s,
        "Stat": query.statistic.value,
    }


def _one_query(
    query: MetricQuery | SearchQuery, query_id: str, resources: Resources, shown: bool
) -> dict[str, Any]:
    request: dict[str, Any] = {"Id": query_id, "ReturnData": shown}
    if isinstance(query, MetricQuery):
        request["MetricStat"] = _metric_stat(query, resources)
    else:
        request["Expression"] = query.expression(resources)
        request["Period"] = query.period_s
    if query.label:
        request["Label"] = query.label
    return request


def metric_data_queries(
    query: Query, resources: Resources, query_id: str = RESULT_ID
) -> list[dict[str, Any]]:
    """``MetricDataQueries`` for one panel query; only ``query_id``'s results are returned.

    A metric-math query brings its inputs, under the ids its expression names, unreturned.
    """
    if not isinstance(query, MathQuery):
        return [_one_query(query, query_id, resources, shown=True)]
    inner_ids = [inner_id for inner_id, _ in query.using]
    if query_id in inner_ids or len(set(inner_ids)) != len(inner_ids):
        raise ValueError(f"metric math ids must be unique and not {query_id!r}: {inner_ids}")
    requests = [
        _one_query(inner, inner_id, resources, shown=False) for inner_id, inner in query.using
    ]
    requests.append(
        {"Id": query_id, "Expression": query.expression, "Label": query.label, "ReturnData": True}
    )
    return requests


@dataclass(frozen=True)
class SeriesRequest:
    """One query of a panel as one ``GetMetricData`` request (a failure stays its own)."""

    query: Query
    unit: Unit
    """What the values measure: the metric's unit, or for metric math the panel's axis unit."""
    metric_data_queries: tuple[dict[str, Any], ...]

    @property
    def name(self) -> str:
        """How a note refers to the query when it has no label."""
        if self.query.label:
            return self.query.label
        if isinstance(self.query, MathQuery):
            return self.query.expression
        return f"{self.query.statistic.value} of {self.query.metric.name}"


def panel_requests(panel: Panel, resources: Resources) -> tuple[SeriesRequest, ...]:
    axis_unit = panel.y_axis.unit if panel.y_axis is not None else Unit.NONE
    return tuple(
        SeriesRequest(
            query,
            axis_unit if isinstance(query, MathQuery) else query.metric.unit,
            tuple(metric_data_queries(query, resources)),
        )
        for query in panel.queries
    )


# -- Logs Insights ---------------------------------------------------------------------------------

_LOCAL_INSIGHTS_COMMANDS = frozenset({"fields", "sort", "limit"})


def local_insights_gap(query: str) -> str | None:
    """Why the local Logs endpoint cannot answer ``query`` faithfully, or None if it can.

    moto's Logs Insights reads only ``fields`` of built-in ``@`` fields, ``sort`` and ``limit``;
    it skips any other command silently, so running such a query would show wrong rows.
    """
    reasons: list[str] = []
    for command in (part.strip() for part in query.split("|")):
        if not command:
            continue
        verb, _, rest = command.partition(" ")
        if verb not in _LOCAL_INSIGHTS_COMMANDS:
            reasons.append(f"`{verb}` is not evaluated")
        elif verb == "fields":
            extracted = [name.strip() for name in rest.split(",") if name.strip()]
            custom = [name for name in extracted if not name.startswith("@")]
            if custom:
                reasons.append(f"JSON fields ({', '.join(custom)}) are not extracted")
    if not reasons:
        return None
    return "the local Logs endpoint's Logs Insights " + "; ".join(dict.fromkeys(reasons))


# -- what comes back -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One line of a panel: its label as CloudWatch returned it, and its points in time order."""

    label: str
    unit: Unit
    points: tuple[tuple[datetime, float], ...]

    @property
    def latest(self) -> tuple[datetime, float] | None:
        return self.points[-1] if self.points else None


@dataclass(frozen=True)
class LogTable:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class PanelData:
    panel: Panel
    series: tuple[Series, ...] = ()
    log_table: LogTable | None = None
    notes: tuple[str, ...] = ()
    """Why something the panel asks for is missing (no data, not available, a failed query)."""


@dataclass(frozen=True)
class DashboardData:
    dashboard: Dashboard
    window: Window
    source: str
    """Where the data came from (the endpoint URL, or the AWS region)."""
    panels: tuple[PanelData, ...]

    def panel(self, title: str) -> PanelData:
        for data in self.panels:
            if data.panel.title == title:
                return data
        raise KeyError(title)


NO_DATA = "no data in the window"


def series_from_results(results: Sequence[Mapping[str, Any]], unit: Unit) -> tuple[Series, ...]:
    """``MetricDataResults`` (possibly from several pages) → one series per returned label.

    A ``SEARCH`` returns one result per metric it found, all under the query's id.
    """
    merged: dict[tuple[str, str], list[tuple[datetime, float]]] = {}
    for result in results:
        key = (str(result.get("Id", "")), str(result.get("Label", "")))
        points = merged.setdefault(key, [])
        points.extend(
            (timestamp.astimezone(UTC), float(value))
            for timestamp, value in zip(result["Timestamps"], result["Values"], strict=True)
            if not math.isnan(float(value))
        )
    return tuple(
        Series(label or query_id, unit, tuple(sorted(points)))
        for (query_id, label), points in merged.items()
    )


# -- the thin shell --------------------------------------------------------------------------------


class SourceUnavailableError(Exception):
    """CloudWatch cannot be reached at all (no endpoint, no credentials): no panel can be read,
    so the rendering stops instead of drawing a dashboard of identical notes."""


_UNREACHABLE = (EndpointConnectionError, NoCredentialsError)


def _error_text(error: Exception) -> str:
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "error")
        message = details.get("Message") or ""
        return f"{code}: {message}".rstrip(": ") if message else str(code)
    return str(error)


@dataclass
class DashboardSource:
    """The clients and names one rendering reads through.

    ``evaluates_logs_insights`` is False for the local endpoint (see :func:`local_insights_gap`).
    """

    cloudwatch: Any
    logs: Any
    resources: Resources
    description: str
    evaluates_logs_insights: bool = True
    log_groups: LogGroups | None = None
    log_query_timeout_s: float = 60.0
    _log_poll_s: float = field(default=0.5, repr=False)

    def fetch_series(self, request: SeriesRequest, window: Window) -> tuple[Series, ...]:
        paginator = self.cloudwatch.get_paginator("get_metric_data")
        results: list[Mapping[str, Any]] = []
        pages = paginator.paginate(
            MetricDataQueries=list(request.metric_data_queries),
            StartTime=window.start,
            EndTime=window.end,
            ScanBy="TimestampAscending",
        )
        for page in pages:
            results.extend(page.get("MetricDataResults", []))
        return series_from_results(results, request.unit)

    def run_log_query(self, query: LogQuery, window: Window) -> LogTable:
        names = query.log_group_names(self.log_groups or self.resources)
        query_id = self.logs.start_query(
            logGroupNames=names,
            startTime=int(window.start.timestamp()),
            endTime=int(window.end.timestamp()),
            queryString=query.query,
        )["queryId"]
        deadline = time.monotonic() + self.log_query_timeout_s
        while True:
            answer = self.logs.get_query_results(queryId=query_id)
            status = answer.get("status")
            if status == "Complete":
                return _log_table(answer.get("results", []))
            if status not in ("Scheduled", "Running"):
                raise RuntimeError(f"the Logs Insights query ended {status}")
            if time.monotonic() > deadline:
                self.logs.stop_query(queryId=query_id)
                raise TimeoutError(f"the Logs Insights query ran over {self.log_query_timeout_s}s")
            time.sleep(self._log_poll_s)


def _log_table(results: Sequence[Sequence[Mapping[str, str]]]) -> LogTable:
    columns: dict[str, None] = {}
    for row in results:
        for cell in row:
            if cell["field"] != "@ptr":
                columns.setdefault(cell["field"], None)
    names = tuple(columns)
    rows = []
    for row in results:
        values = {cell["field"]: cell.get("value", "") for cell in row}
        rows.append(tuple(values.get(name, "") for name in names))
    return LogTable(names, tuple(rows))


def fetch_panel(panel: Panel, window: Window, source: DashboardSource) -> PanelData:
    """Read one panel; a failed query becomes a note on the panel, not an exception (only an
    unreachable source raises :class:`SourceUnavailableError`)."""
    if panel.kind is PanelKind.LOG_TABLE:
        return _fetch_log_panel(panel, window, source)
    series: list[Series] = []
    notes: list[str] = []
    for request in panel_requests(panel, source.resources):
        try:
            series.extend(source.fetch_series(request, window))
        except _UNREACHABLE as error:
            raise SourceUnavailableError(f"{source.description}: {error}") from error
        except (ClientError, BotoCoreError) as error:
            notes.append(f"{request.name}: GetMetricData failed ({_error_text(error)})")
    if not any(line.points for line in series) and not notes:
        notes.append(NO_DATA)
    return PanelData(panel, tuple(series), notes=tuple(notes))


def _fetch_log_panel(panel: Panel, window: Window, source: DashboardSource) -> PanelData:
    assert panel.log_query is not None
    if not source.evaluates_logs_insights:
        gap = local_insights_gap(panel.log_query.query)
        if gap is not None:
            return PanelData(panel, notes=(f"not available locally: {gap}",))
    try:
        table = source.run_log_query(panel.log_query, window)
    except _UNREACHABLE as error:
        raise SourceUnavailableError(f"{source.description}: {error}") from error
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code == "ResourceNotFoundException":
            return PanelData(panel, notes=(f"no log group yet ({_error_text(error)})",))
        return PanelData(panel, notes=(f"Logs Insights failed ({_error_text(error)})",))
    except (BotoCoreError, RuntimeError, TimeoutError) as error:
        return PanelData(panel, notes=(f"Logs Insights failed ({_error_text(error)})",))
    notes = () if table.rows else ("no log events in the window",)
    return PanelData(panel, log_table=table, notes=notes)


Progress = Callable[[int, int, str], None]
"""Called before each panel is read: (panels done, panels in all, the next panel's title)."""


def fetch_dashboard(
    dashboard: Dashboard, window: Window, source: DashboardSource, progress: Progress | None = None
) -> DashboardData:
    panels = dashboard.panels
    fetched = []
    for done, panel in enumerate(panels):
        if progress is not None:
            progress(done, len(panels), panel.title)
        fetched.append(fetch_panel(panel, window, source))
    if progress is not None:
        progress(len(panels), len(panels), "")
    return DashboardData(dashboard, window, source.description, tuple(fetched))
