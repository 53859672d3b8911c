"""How a CloudWatch metric alarm decides its state: datapoints in, state and reason out.

The rules are those CloudWatch documents ("How alarm state is evaluated when data is missing"):

* The alarm looks at an *evaluation range* of ``N + 2`` periods (``N`` = EvaluationPeriods;
  CloudWatch retrieves "a higher number of datapoints than N", 5 for N = 3 in its examples).
* If at least ``N`` datapoints in the range exist, the ``N`` most recent ones are evaluated and
  TreatMissingData plays no part.
* If none exists: ``missing`` → INSUFFICIENT_DATA, ``ignore`` → the state is kept,
  ``breaching`` → ALARM, ``notBreaching`` → OK.
* If some exist but fewer than ``N``: with ``breaching`` / ``notBreaching``, every existing
  datapoint is evaluated together with as many filled-in datapoints (breaching or not) as make
  ``N``; with ``missing`` / ``ignore``, only the existing datapoints count: ALARM if at least
  ``M`` breach, OK if any does not, otherwise INSUFFICIENT_DATA (``missing``) or the state kept
  (``ignore``). This reproduces every cell of CloudWatch's two example tables but one: for
  ``X - - - -`` with 3 of 3 and ``missing``, CloudWatch reports ALARM, here INSUFFICIENT_DATA.
* Of the ``N`` evaluated datapoints, ALARM when at least ``M`` (DatapointsToAlarm) breach,
  otherwise OK.

The reason text and reason data follow the shape of CloudWatch's ("Threshold Crossed: 1
datapoint [5.0 (26/11/26 18:40:00)] was greater than the threshold (1.0).").
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

EXTRA_PERIODS = 2
"""Periods beyond EvaluationPeriods that the evaluation range reaches back."""


class AlarmState(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


class MissingData(StrEnum):
    """CloudWatch's TreatMissingData values; ``missing`` is the default."""

    BREACHING = "breaching"
    NOT_BREACHING = "notBreaching"
    IGNORE = "ignore"
    MISSING = "missing"


COMPARISONS: dict[str, tuple[Callable[[float, float], bool], str]] = {
    "GreaterThanThreshold": (operator.gt, "greater than"),
    "GreaterThanOrEqualToThreshold": (operator.ge, "greater than or equal to"),
    "LessThanThreshold": (operator.lt, "less than"),
    "LessThanOrEqualToThreshold": (operator.le, "less than or equal to"),
}
"""The static-threshold comparisons (anomaly-band ones need a model CloudWatch trains)."""


@dataclass(frozen=True)
class AlarmRule:
    threshold: float
    comparison: str
    evaluation_periods: int
    datapoints_to_alarm: int
    missing_data: MissingData = MissingData.MISSING

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"comparison {self.comparison!r} is not supported")
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError("DatapointsToAlarm must be in 1..EvaluationPeriods")

    @property
    def evaluation_range(self) -> int:
        return self.evaluation_periods + EXTRA_PERIODS

    def breaches(self, value: float) -> bool:
        compare, _ = COMPARISONS[self.comparison]
        return compare(value, self.threshold)


@dataclass(frozen=True)
class Datapoint:
    """The statistic of one period (``timestamp_s`` its start); None when the period had none."""

    timestamp_s: float
    value: float | None


@dataclass(frozen=True)
class AlarmEvaluation:
    state: AlarmState | None
    """The new state; None keeps the current one (``ignore`` with no data)."""
    reason: str
    evaluated: tuple[Datapoint, ...]
    """The real datapoints that took part, oldest first."""
    filled: int
    """Missing datapoints filled in (as breaching or not) to make ``N``."""
    breaching: int


def _when(timestamp_s: float) -> str:
    return datetime.fromtimestamp(timestamp_s, UTC).strftime("%d/%m/%y %H:%M:%S")


def _listing(datapoints: Sequence[Datapoint]) -> str:
    newest_first = sorted(datapoints, key=lambda point: point.timestamp_s, reverse=True)
    return ", ".join(f"{point.value!r} ({_when(point.timestamp_s)})" for point in newest_first)


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _reason(rule: AlarmRule, state: AlarmState, evaluated: Sequence[Datapoint], filled: int) -> str:
    _, phrase = COMPARISONS[rule.comparison]
    treated = "Breaching" if rule.missing_data is MissingData.BREACHING else "NonBreaching"
    if not evaluated:
        return (
            f"Threshold Crossed: no datapoints were received for "
            f"{_count(rule.evaluation_periods, 'period')} and "
            f"{_count(rule.evaluation_periods, 'missing datapoint')} "
            f"{'was' if rule.evaluation_periods == 1 else 'were'} treated as [{treated}]."
        )
    alarming = state is AlarmState.ALARM
    shown = [p for p in evaluated if p.value is not None and rule.breaches(p.value) == alarming]
    verb = "was" if len(shown) == 1 else "were"
    negation = "" if alarming else "not "
    if rule.evaluation_periods == 1 and not filled:
        text = (
            f"Threshold Crossed: 1 datapoint [{_listing(shown)}] {verb} {negation}{phrase} "
            f"the threshold ({rule.threshold!r})."
        )
    else:
        needed, transition = (
            (rule.datapoints_to_alarm, "OK -> ALARM")
            if alarming
            else (rule.evaluation_periods - rule.datapoints_to_alarm + 1, "ALARM -> OK")
        )
        text = (
            f"Threshold Crossed: {len(shown)} out of the last {len(evaluated)} datapoints "
            f"[{_listing(shown)}] {verb} {negation}{phrase} the threshold ({rule.threshold!r}) "
            f"(minimum {_count(needed, 'datapoint')} for {transition} transition)."
        )
    if filled:
        verb = "was" if filled == 1 else "were"
        text += f" {_count(filled, 'missing datapoint')} {verb} treated as [{treated}]."
    return text


def evaluate(rule: AlarmRule, datapoints: Sequence[Datapoint]) -> AlarmEvaluation:
    """The alarm's state from the datapoints of its evaluation range, oldest first (only the
    last :attr:`AlarmRule.evaluation_range` are read)."""
    window = list(datapoints)[-rule.evaluation_range :]
    existing = [point for point in window if point.value is not None]
    n, m = rule.evaluation_periods, rule.datapoints_to_alarm

    def breaching(points: Sequence[Datapoint]) -> int:
        return sum(1 for p in points if p.value is not None and rule.breaches(p.value))

    if len(existing) >= n:
        evaluated = existing[-n:]
        count = breaching(evaluated)
        state = AlarmState.ALARM if count >= m else AlarmState.OK
        return AlarmEvaluation(
            state, _reason(rule, state, evaluated, 0), tuple(evaluated), 0, count
        )

    missing_data = rule.missing_data
    if missing_data in (MissingData.BREACHING, MissingData.NOT_BREACHING):
        filled = n - len(existing)
        count = breaching(existing) + (filled if missing_data is MissingData.BREACHING else 0)
        state = AlarmState.ALARM if count >= m else AlarmState.OK
        return AlarmEvaluation(
            state, _reason(rule, state, existing, filled), tuple(existing), filled, count
        )

    count = breaching(existing)
    if count >= m:
        state_or_kept: AlarmState | None = AlarmState.ALARM
    elif count < len(existing):
        state_or_kept = AlarmState.OK
    else:
        state_or_kept = (
            AlarmState.INSUFFICIENT_DATA if missing_data is MissingData.MISSING else None
        )
    if state_or_kept is None:
        reason = (
            f"No datapoints to evaluate in the last {_count(len(window), 'period')}; "
            "TreatMissingData is ignore, so the state is kept."
        )
    elif state_or_kept is AlarmState.INSUFFICIENT_DATA:
        reason = (
            f"Insufficient Data: {_count(len(window) - len(existing), 'datapoint')} "
            f"{'was' if len(window) - len(existing) == 1 else 'were'} unknown."
        )
    else:
        reason = _reason(rule, state_or_kept, existing, 0)
    return AlarmEvaluation(state_or_kept, reason, tuple(existing), 0, count)


def _iso(timestamp_s: float) -> str:
    return datetime.fromtimestamp(timestamp_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def reason_data(
    rule: AlarmRule,
    evaluation: AlarmEvaluation,
    *,
    query_time_s: float,
    range_start_s: float,
    period_s: int,
    statistic: str | None,
) -> dict[str, Any]:
    """CloudWatch's StateReasonData for a threshold evaluation (serialise with ``json.dumps``)."""
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": _iso(query_time_s),
        "startDate": _iso(range_start_s),
    }
    if statistic is not None:
        data["statistic"] = statistic
    data |= {
        "period": period_s,
        "recentDatapoints": [point.value for point in evaluation.evaluated],
        "threshold": rule.threshold,
        "evaluatedDatapoints": [
            {"timestamp": _iso(point.timestamp_s), "value": point.value}
            for point in reversed(evaluation.evaluated)
        ],
    }
    return data
