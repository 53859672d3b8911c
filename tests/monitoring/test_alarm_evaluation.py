"""Alarm evaluation against CloudWatch's documented behaviour (the two example tables of
"How alarm state is evaluated when data is missing", and the comparison operators)."""

from __future__ import annotations

import json

import pytest

from k2.monitoring.alarm_evaluation import (
    AlarmRule,
    AlarmState,
    Datapoint,
    MissingData,
    evaluate,
    reason_data,
)

pytestmark = pytest.mark.unit

ALARM, OK, INSUFFICIENT = AlarmState.ALARM, AlarmState.OK, AlarmState.INSUFFICIENT_DATA
KEEP = None
TREATMENTS = (
    MissingData.MISSING,
    MissingData.IGNORE,
    MissingData.BREACHING,
    MissingData.NOT_BREACHING,
)
T0 = 1_764_000_000.0  # a period start; periods are 300 s apart


def _datapoints(pattern: str) -> list[Datapoint]:
    """CloudWatch's notation, oldest first: 0 not breaching, X breaching, - missing."""
    values = {"0": 0.0, "X": 5.0, "-": None}
    return [Datapoint(T0 + 300 * i, values[c]) for i, c in enumerate(pattern.split())]


def _rule(m: int, n: int, missing: MissingData) -> AlarmRule:
    return AlarmRule(
        threshold=1.0,
        comparison="GreaterThanThreshold",
        evaluation_periods=n,
        datapoints_to_alarm=m,
        missing_data=missing,
    )


# (pattern, expected for MISSING, IGNORE, BREACHING, NOT BREACHING), straight from the docs.
THREE_OF_THREE = [
    ("0 - X - X", (OK, OK, OK, OK)),
    ("0 - - - -", (OK, OK, OK, OK)),
    ("- - - - -", (INSUFFICIENT, KEEP, ALARM, OK)),
    ("0 X X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("- - - - X", (INSUFFICIENT, KEEP, ALARM, OK)),
    # The docs give ALARM for MISSING here; see test_the_one_documented_cell_not_reproduced.
    ("X - - - -", (INSUFFICIENT, KEEP, ALARM, OK)),
]
TWO_OF_THREE = [
    ("0 - X - X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 0 X 0 X", (ALARM, ALARM, ALARM, ALARM)),
    ("0 - X - -", (OK, OK, ALARM, OK)),
    ("- - - - 0", (OK, OK, ALARM, OK)),
    ("- - - - X", (INSUFFICIENT, KEEP, ALARM, OK)),
]


@pytest.mark.parametrize(("m", "table"), [(3, THREE_OF_THREE), (2, TWO_OF_THREE)])
def test_the_documented_missing_data_tables(
    m: int, table: list[tuple[str, tuple[AlarmState | None, ...]]]
) -> None:
    for pattern, expected in table:
        for treatment, state in zip(TREATMENTS, expected, strict=True):
            result = evaluate(_rule(m, 3, treatment), _datapoints(pattern))
            assert result.state == state, (m, pattern, treatment)


def test_the_one_documented_cell_not_reproduced() -> None:
    """CloudWatch: ALARM for ``X - - - -`` (3 of 3, missing); here the lone breaching point is
    not enough to decide, as for ``- - - - X`` (documented in the module)."""
    result = evaluate(_rule(3, 3, MissingData.MISSING), _datapoints("X - - - -"))
    assert result.state is INSUFFICIENT


def test_only_the_evaluation_range_is_read() -> None:
    # 3 of 3 reads 5 periods: the old breaching points before them do not count.
    rule = _rule(3, 3, MissingData.NOT_BREACHING)
    assert evaluate(rule, _datapoints("X X X - - - - -")).state is OK
    assert evaluate(rule, _datapoints("X X X - -")).state is ALARM


@pytest.mark.parametrize(
    ("pattern", "m", "state"),
    [
        ("0 X 0 X", 2, ALARM),  # the last 3 of 4 existing points: X 0 X
        ("X 0 0 X", 2, OK),  # 0 0 X
        ("X X X 0", 3, OK),
        ("0 X X X", 3, ALARM),
        ("0 0 0 X", 1, ALARM),
    ],
)
def test_m_out_of_n_reads_the_n_most_recent_points(pattern: str, m: int, state: AlarmState) -> None:
    result = evaluate(_rule(m, 3, MissingData.MISSING), _datapoints(pattern))
    assert result.state is state
    assert len(result.evaluated) == 3


@pytest.mark.parametrize(
    ("comparison", "below", "at", "above"),
    [
        ("GreaterThanThreshold", OK, OK, ALARM),
        ("GreaterThanOrEqualToThreshold", OK, ALARM, ALARM),
        ("LessThanThreshold", ALARM, OK, OK),
        ("LessThanOrEqualToThreshold", ALARM, ALARM, OK),
    ],
)
def test_each_comparison(
    comparison: str, below: AlarmState, at: AlarmState, above: AlarmState
) -> None:
    rule = AlarmRule(10.0, comparison, 1, 1)
    for value, state in ((9.5, below), (10.0, at), (10.5, above)):
        assert evaluate(rule, [Datapoint(T0, value)]).state is state, (comparison, value)


def test_invalid_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="comparison"):
        AlarmRule(1.0, "LessThanLowerOrGreaterThanUpperThreshold", 1, 1)
    with pytest.raises(ValueError, match="DatapointsToAlarm"):
        AlarmRule(1.0, "GreaterThanThreshold", 2, 3)


def test_reasons_read_like_cloudwatch() -> None:
    rule = AlarmRule(1.0, "GreaterThanOrEqualToThreshold", 1, 1)
    result = evaluate(rule, [Datapoint(1_764_180_000.0, 5.0)])  # 2025-11-26 18:00:00 UTC
    assert result.reason == (
        "Threshold Crossed: 1 datapoint [5.0 (26/11/25 18:00:00)] was greater than or equal to "
        "the threshold (1.0)."
    )
    silent = evaluate(_rule(3, 3, MissingData.BREACHING), _datapoints("- - - - -"))
    assert silent.reason == (
        "Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints "
        "were treated as [Breaching]."
    )
    two_of_three = evaluate(_rule(2, 3, MissingData.MISSING), _datapoints("0 0 X 0 X"))
    assert two_of_three.reason.startswith("Threshold Crossed: 2 out of the last 3 datapoints [")
    assert two_of_three.reason.endswith(
        "were greater than the threshold (1.0) (minimum 2 datapoints for OK -> ALARM transition)."
    )


def test_reason_data_lists_the_evaluated_points() -> None:
    rule = _rule(2, 3, MissingData.MISSING)
    result = evaluate(rule, _datapoints("0 0 X 0 X"))
    data = reason_data(
        rule, result, query_time_s=T0 + 1500, range_start_s=T0, period_s=300, statistic="Sum"
    )
    assert json.loads(json.dumps(data)) == data
    assert data["recentDatapoints"] == [5.0, 0.0, 5.0]
    assert [point["value"] for point in data["evaluatedDatapoints"]] == [5.0, 0.0, 5.0]
    assert data["statistic"] == "Sum" and data["period"] == 300 and data["threshold"] == 1.0
