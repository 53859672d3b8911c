"""The local endpoint's CloudWatch, close enough to AWS's for the platform's metrics, dashboard
and alarms to work with the definitions they use in AWS.

Stock moto stores metric data and alarms but: never turns EMF log events into metrics; answers
GetMetricStatistics without ``ExtendedStatistics`` and GetMetricData without percentiles
(``p99`` fails), SEARCH or metric math beyond a bare id; matches dimensions loosely; and never
evaluates an alarm. This module closes those gaps with moto patches installed by
:func:`apply` (from ``k2.local.moto_patches.apply``):

* CloudWatch Logs ``PutLogEvents``: every accepted event whose message is a valid EMF document
  also publishes its metrics to that account and region's CloudWatch
  (:mod:`k2.monitoring.emf_extraction`). Other events stay plain log events. Unlike AWS, the
  ``x-amzn-logs-format: json/emf`` header is not required (our shippers don't send it).
* ``GetMetricStatistics`` and ``GetMetricData`` compute every statistic, percentiles included,
  from the raw values (:mod:`k2.monitoring.metric_statistics`); GetMetricData also evaluates
  SEARCH and metric math (:mod:`k2.monitoring.metric_math`). A metric is matched by its full
  dimension set, as in AWS.
* Alarms start in INSUFFICIENT_DATA, keep their state when updated, have a history, and are
  evaluated in the background: :mod:`k2.local.cloudwatch_alarms`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from moto.cloudwatch.exceptions import InvalidParameterCombination, ValidationError
from moto.cloudwatch.models import MetricDatum, MetricDatumBase, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from moto.logs.models import LogsBackend

from k2.local import cloudwatch_alarms
from k2.local.cloudwatch_store import epoch, metric_store, naive
from k2.monitoring.emf_extraction import extract_metrics
from k2.monitoring.metric_math import MetricMathError, evaluate_queries
from k2.monitoring.metric_search import MetricIdentity
from k2.monitoring.metric_statistics import (
    BASIC_STATISTICS,
    aligned_start,
    bucket_values,
    percentile_of,
    periods_between,
    statistic_value,
)

# -- EMF extraction -------------------------------------------------------------------------------

_stock_put_log_events = LogsBackend.put_log_events


def _accepted(log_events: Sequence[dict[str, Any]], rejected: Mapping[str, int]) -> list[Any]:
    too_old = rejected.get("tooOldLogEventEndIndex", -1)
    too_new = rejected.get("tooNewLogEventStartIndex", len(log_events))
    return [event for i, event in enumerate(log_events) if too_old < i < too_new]


def _put_log_events_extracting_emf(
    self: LogsBackend,
    log_group_name: str,
    log_stream_name: str,
    log_events: list[dict[str, Any]],
) -> tuple[str, dict[str, Any]]:
    token, rejected = _stock_put_log_events(self, log_group_name, log_stream_name, log_events)
    datums: list[MetricDatumBase] = []
    for event in _accepted(log_events, rejected):
        for metric in extract_metrics(str(event.get("message", ""))):
            dimensions = [{"Name": name, "Value": value} for name, value in metric.dimensions]
            timestamp = naive(metric.timestamp_ms / 1000)
            datums.extend(
                MetricDatum(
                    metric.namespace, metric.name, value, dimensions, timestamp, metric.unit
                )
                for value in metric.values
            )
    if datums:
        cloudwatch_backends[self.account_id][self.region_name].metric_data.extend(datums)
    return token, rejected


# -- GetMetricStatistics and GetMetricData --------------------------------------------------


def _datapoint(
    values: list[float],
    unit: str,
    timestamp_s: float,
    statistics: Sequence[str],
    extended: Sequence[str],
) -> dict[str, Any]:
    point: dict[str, Any] = {"Timestamp": naive(timestamp_s), "Unit": unit}
    for statistic in statistics:
        point[statistic] = statistic_value(values, statistic)
    if extended:
        point["ExtendedStatistics"] = {p: statistic_value(values, p) for p in extended}
    return point


def _get_metric_statistics(self: CloudWatchResponse) -> ActionResult:
    namespace = self._get_param("Namespace")
    metric_name = self._get_param("MetricName")
    start, end = epoch(self._get_param("StartTime")), epoch(self._get_param("EndTime"))
    period = self._get_int_param("Period")
    statistics: list[str] = self._get_param("Statistics") or []
    extended: list[str] = self._get_param("ExtendedStatistics") or []
    dimensions = self._get_param("Dimensions") or []
    unit = self._get_param("Unit")
    if not statistics and not extended:
        raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
    for statistic in statistics:
        if statistic not in BASIC_STATISTICS:
            raise ValidationError(f"The value {statistic} for parameter Statistics is not valid.")
    for statistic in extended:
        if percentile_of(statistic) is None:
            raise ValidationError(
                f"The value {statistic} for parameter ExtendedStatistics is not supported."
            )
    if start >= end:
        raise ValidationError("The parameter StartTime must be less than the parameter EndTime.")
    identity = MetricIdentity.of(
        namespace, metric_name, ((d["Name"], d["Value"]) for d in dimensions)
    )
    samples = metric_store(self.cloudwatch_backend).get(identity, [])
    if unit:
        samples = [sample for sample in samples if sample.unit == unit]
    first = aligned_start(start, period)
    buckets = bucket_values(samples, first, period, periods_between(first, end, period))
    units: dict[int, str] = {}
    for sample in samples:
        units.setdefault(int((sample.timestamp_s - first) // period), sample.unit)
    datapoints = [
        _datapoint(values, units.get(i, "None"), first + i * period, statistics, extended)
        for i, values in enumerate(buckets)
        if values
    ]
    return ActionResult({"Label": metric_name, "Datapoints": datapoints})


def _smallest_period(queries: Sequence[Mapping[str, Any]]) -> int:
    periods = [
        int(period)
        for query in queries
        for period in (query.get("Period"), (query.get("MetricStat") or {}).get("Period"))
        if period
    ]
    return min(periods, default=60)


def _get_metric_data(self: CloudWatchResponse) -> ActionResult:
    params = self._get_params()
    start, end = epoch(params["StartTime"]), epoch(params["EndTime"])
    if start >= end:
        raise ValidationError("The parameter StartTime must be less than the parameter EndTime.")
    queries = params.get("MetricDataQueries") or []
    descending = (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
    first = aligned_start(start, _smallest_period(queries))
    try:
        outputs = evaluate_queries(queries, first, end, metric_store(self.cloudwatch_backend))
    except MetricMathError as error:
        raise ValidationError(str(error)) from None
    results = []
    for output in outputs:
        for series in output.series:
            points = series.points()
            if descending:
                points.reverse()
            results.append(
                {
                    "Id": output.query_id,
                    "Label": series.label,
                    "Timestamps": [naive(t) for t, _ in points],
                    "Values": [v for _, v in points],
                    "StatusCode": "Complete",
                }
            )
    return ActionResult({"MetricDataResults": results, "Messages": []})


def apply() -> None:
    """Install the patches and start the alarm evaluator (once); idempotent."""
    LogsBackend.put_log_events = _put_log_events_extracting_emf  # type: ignore[method-assign]
    CloudWatchResponse.get_metric_statistics = _get_metric_statistics  # type: ignore[method-assign]
    CloudWatchResponse.get_metric_data = _get_metric_data  # type: ignore[method-assign]
    cloudwatch_alarms.apply()
