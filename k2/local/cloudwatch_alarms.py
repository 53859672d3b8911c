"""The local CloudWatch's alarms: created and updated as in AWS, with history, and evaluated.

Stock moto stores alarms but never evaluates them, starts them in OK and resets an updated
alarm's state. Here (installed by :func:`k2.local.cloudwatch_service.apply`):

* ``PutMetricAlarm`` creates an alarm in INSUFFICIENT_DATA and keeps the state of an alarm it
  updates, as AWS does; ``DescribeAlarmHistory`` lists state changes.
* A background thread evaluates every metric alarm each ``K2_ALARM_EVALUATION_INTERVAL_S``
  seconds (default 10; 0 turns it off) with :mod:`k2.monitoring.alarm_evaluation`, reading the
  same numbers GetMetricData returns (:mod:`k2.monitoring.metric_math`). Its periods slide with
  the clock and end at the evaluation time (CloudWatch ends them on the last whole minute): the
  local cloud's processes ship metrics with no delay, and tests need not wait for a minute
  boundary. State changes go through moto's ``set_alarm_state``, with CloudWatch's reason and
  reason data.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from moto.cloudwatch.models import Alarm, CloudWatchBackend, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult
from pydantic_settings import BaseSettings, SettingsConfigDict

from k2.local.cloudwatch_store import metric_store
from k2.monitoring.alarm_evaluation import (
    COMPARISONS,
    AlarmRule,
    AlarmState,
    Datapoint,
    MissingData,
    evaluate,
    reason_data,
)
from k2.monitoring.metric_math import MetricMathError, MetricStore, evaluate_queries

log = logging.getLogger(__name__)


class AlarmEvaluatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="K2_ALARM_", extra="ignore", frozen=True)

    evaluation_interval_s: float = 10.0
    """Seconds between two evaluations of every alarm; 0 disables the evaluator."""


_stock_put_metric_alarm = CloudWatchBackend.put_metric_alarm
_stock_update_state = Alarm.update_state


def _put_metric_alarm_keeping_state(self: CloudWatchBackend, *args: Any, **kwargs: Any) -> Alarm:
    name = kwargs["name"] if "name" in kwargs else args[0]
    previous = self.alarms.get(name)
    alarm: Alarm = _stock_put_metric_alarm(self, *args, **kwargs)
    if previous is None:
        alarm.state_value = AlarmState.INSUFFICIENT_DATA.value
    else:
        alarm.state_value = previous.state_value
        alarm.state_reason = previous.state_reason
        alarm.state_reason_data = previous.state_reason_data
        alarm.state_updated_timestamp = previous.state_updated_timestamp
        alarm.history = previous.history
        alarm.k2_history = getattr(previous, "k2_history", [])  # type: ignore[attr-defined]
    return alarm


def _update_state_recording_history(
    self: Alarm, reason: str, reason_data: str, state_value: str
) -> None:
    old_state = self.state_value
    _stock_update_state(self, reason, reason_data, state_value)
    history: list[dict[str, Any]] = self.__dict__.setdefault("k2_history", [])
    history.append(
        {
            "AlarmName": self.name,
            "AlarmType": "CompositeAlarm" if self.rule is not None else "MetricAlarm",
            "Timestamp": self.state_updated_timestamp,
            "HistoryItemType": "StateUpdate",
            "HistorySummary": f"Alarm updated from {old_state} to {state_value}",
            "HistoryData": json.dumps(
                {
                    "version": "1.0",
                    "oldState": {"stateValue": old_state},
                    "newState": {
                        "stateValue": state_value,
                        "stateReason": reason,
                        "stateReasonData": json.loads(reason_data) if reason_data else {},
                    },
                }
            ),
        }
    )


def _describe_alarm_history(self: CloudWatchResponse) -> ActionResult:
    name = self._get_param("AlarmName")
    item_type = self._get_param("HistoryItemType")
    alarms = list(self.cloudwatch_backend.alarms.values())
    items = [
        item
        for alarm in alarms
        if name is None or alarm.name == name
        for item in getattr(alarm, "k2_history", [])
        if item_type is None or item["HistoryItemType"] == item_type
    ]
    items.sort(key=lambda item: item["Timestamp"], reverse=True)
    return ActionResult({"AlarmHistoryItems": items})


def _without_none(mapping: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if value is not None}


def alarm_queries(alarm: Alarm) -> tuple[list[dict[str, Any]], int, str | None]:
    """The alarm as MetricDataQueries, with its period and (single-metric alarms) statistic."""
    if not alarm.metric_data_queries:
        statistic = alarm.statistic or alarm.extended_statistic
        metric = {
            "Namespace": alarm.namespace,
            "MetricName": alarm.metric_name,
            "Dimensions": [{"Name": d.name, "Value": d.value} for d in alarm.dimensions],
        }
        stat = _without_none(
            {"Metric": metric, "Period": int(alarm.period), "Stat": statistic, "Unit": alarm.unit}
        )
        return [{"Id": "m1", "MetricStat": stat, "ReturnData": True}], int(alarm.period), statistic
    queries = []
    periods = []
    for query in alarm.metric_data_queries:
        entry = _without_none(
            {
                "Id": query.id,
                "Label": query.label,
                "Expression": query.expression,
                "Period": int(query.period) if query.period else None,
                "ReturnData": query.return_data in (None, True, "true", "True"),
            }
        )
        if query.metric_stat is not None:
            metric_stat = query.metric_stat
            metric = {
                "Namespace": metric_stat.metric.namespace,
                "MetricName": metric_stat.metric.metric_name,
                "Dimensions": [
                    {"Name": d.name, "Value": d.value} for d in metric_stat.metric.dimensions
                ],
            }
            entry["MetricStat"] = _without_none(
                {
                    "Metric": metric,
                    "Period": int(metric_stat.period),
                    "Stat": metric_stat.stat,
                    "Unit": metric_stat.unit,
                }
            )
            periods.append(int(metric_stat.period))
        elif query.period:
            periods.append(int(query.period))
        queries.append(entry)
    return queries, min(periods, default=60), None


def evaluate_alarm(
    backend: CloudWatchBackend, alarm: Alarm, store: MetricStore, now_s: float
) -> AlarmState | None:
    """Evaluate one metric alarm at ``now_s`` and record a state change; returns the new state
    when it changed."""
    if alarm.comparison_operator not in COMPARISONS:
        return None  # anomaly-detection bands: not evaluated locally
    rule = AlarmRule(
        threshold=float(alarm.threshold),
        comparison=alarm.comparison_operator,
        evaluation_periods=int(alarm.evaluation_periods),
        datapoints_to_alarm=int(alarm.datapoints_to_alarm or alarm.evaluation_periods),
        missing_data=MissingData(alarm.treat_missing_data or MissingData.MISSING.value),
    )
    queries, period, statistic = alarm_queries(alarm)
    start = now_s - rule.evaluation_range * period
    try:
        outputs = evaluate_queries(queries, start, now_s, store)
        lines = [series for output in outputs for series in output.series]
        if len(lines) != 1:
            raise MetricMathError(f"the alarm's metrics return {len(lines)} time series, not 1")
    except MetricMathError as error:
        reason = f"Unchecked: the alarm cannot be evaluated locally: {error}"
        if alarm.state_reason != reason:
            backend.set_alarm_state(alarm.name, reason, "{}", AlarmState.INSUFFICIENT_DATA.value)
        return None
    datapoints = [
        Datapoint(t, v) for t, v in zip(lines[0].timestamps, lines[0].values, strict=True)
    ]
    result = evaluate(rule, datapoints)
    if result.state is None or result.state.value == alarm.state_value:
        return None
    data = reason_data(
        rule,
        result,
        query_time_s=now_s,
        range_start_s=start,
        period_s=period,
        statistic=statistic,
    )
    backend.set_alarm_state(alarm.name, result.reason, json.dumps(data), result.state.value)
    return result.state


def _backends() -> Iterator[CloudWatchBackend]:
    for account in list(dict.values(cloudwatch_backends)):
        yield from list(dict.values(account))


def evaluate_all_alarms(now_s: float | None = None) -> int:
    """Evaluate every metric alarm of every account and region once; returns the changes."""
    now_s = time.time() if now_s is None else now_s
    changes = 0
    for backend in _backends():
        alarms = [alarm for alarm in list(backend.alarms.values()) if alarm.rule is None]
        if not alarms:
            continue
        store = metric_store(backend, service_metrics=False)
        for alarm in alarms:
            try:
                changes += evaluate_alarm(backend, alarm, store, now_s) is not None
            except Exception:  # one broken alarm must not stop the others
                log.exception("evaluating alarm %s failed", alarm.name)
    return changes


class AlarmEvaluator(threading.Thread):
    """Evaluates every alarm each ``interval_s`` seconds until stopped."""

    def __init__(self, interval_s: float) -> None:
        super().__init__(name="k2-alarm-evaluator", daemon=True)
        self.interval_s = interval_s
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            try:
                evaluate_all_alarms()
            except Exception:
                log.exception("alarm evaluation failed")

    def stop(self) -> None:
        self.stopped.set()


_evaluator: AlarmEvaluator | None = None
_install_lock = threading.Lock()


def apply() -> AlarmEvaluator | None:
    """Install the alarm patches and start the evaluator (once); idempotent."""
    global _evaluator
    CloudWatchResponse.describe_alarm_history = _describe_alarm_history  # type: ignore[attr-defined]
    CloudWatchBackend.put_metric_alarm = _put_metric_alarm_keeping_state  # type: ignore[method-assign]
    Alarm.update_state = _update_state_recording_history  # type: ignore[method-assign]
    interval = AlarmEvaluatorSettings().evaluation_interval_s
    with _install_lock:
        if _evaluator is None and interval > 0:
            _evaluator = AlarmEvaluator(interval)
            _evaluator.start()
    return _evaluator
