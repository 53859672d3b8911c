"""The local endpoint's CloudWatch, through boto3 against the running local cloud: EMF log events
become metrics, percentiles, SEARCH and metric math answer like CloudWatch, and alarms are
evaluated in the background (the endpoint's default interval, 10 s)."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError

from k2.aws import aws_client
from k2.observability.emf import emf_metrics, flush_shipped_metrics
from k2.settings import K2Settings

pytestmark = pytest.mark.integration

ALARM_DEADLINE_S = 90.0
"""Several evaluator intervals (10 s) on a busy machine."""


@pytest.fixture
def cloudwatch(k2_settings: K2Settings) -> Any:
    return aws_client("cloudwatch", k2_settings)


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _minute_ago(minutes: int) -> datetime:
    """A whole minute in the past, so one 60 s period holds everything put at it."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=minutes)


def _dims(**dimensions: str) -> list[dict[str, str]]:
    return [{"Name": name, "Value": value} for name, value in dimensions.items()]


def _wait_for(condition: Callable[[], Any], deadline_s: float = ALARM_DEADLINE_S) -> Any:
    deadline = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {deadline_s:.0f} s")
        time.sleep(0.5)


# -- EMF --------------------------------------------------------------------------------------


def test_emf_documents_arrive_as_metrics(
    cloudwatch: Any, k2_settings: K2Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_group = _unique("/k2/test/emf")
    monkeypatch.setenv("K2_METRICS_LOG_GROUP", log_group)
    service = _unique("k2-emf-test")
    at = _minute_ago(3) + timedelta(seconds=17)
    metrics = emf_metrics(service, exchange="binance")
    metrics.set_timestamp(at)
    metrics.add_metric(name="TradesPublished", unit="Count", value=3)
    metrics.add_metric(name="TradesPublished", unit="Count", value=4)
    metrics.add_metric(name="BatchDuration", unit="Milliseconds", value=250.5)
    metrics.flush_metrics()
    assert flush_shipped_metrics()

    dimensions = _dims(service=service, exchange="binance")
    window = {"StartTime": at - timedelta(minutes=5), "EndTime": at + timedelta(minutes=5)}
    trades = cloudwatch.get_metric_statistics(
        Namespace="K2",
        MetricName="TradesPublished",
        Dimensions=dimensions,
        Period=60,
        Statistics=["Sum", "SampleCount", "Maximum"],
        **window,
    )["Datapoints"]
    assert len(trades) == 1
    [point] = trades
    assert (point["Sum"], point["SampleCount"], point["Maximum"]) == (7.0, 2.0, 4.0)
    assert point["Unit"] == "Count"
    assert point["Timestamp"] == at.replace(second=0)
    duration = cloudwatch.get_metric_statistics(
        Namespace="K2",
        MetricName="BatchDuration",
        Dimensions=dimensions,
        Period=60,
        Statistics=["Average"],
        **window,
    )["Datapoints"]
    assert [(p["Average"], p["Unit"]) for p in duration] == [(250.5, "Milliseconds")]
    listed = cloudwatch.list_metrics(Namespace="K2", Dimensions=_dims(service=service))["Metrics"]
    assert {metric["MetricName"] for metric in listed} == {"TradesPublished", "BatchDuration"}
    # A metric is its full dimension set: asking with only part of it finds nothing, as in AWS.
    partial = cloudwatch.get_metric_statistics(
        Namespace="K2",
        MetricName="TradesPublished",
        Dimensions=_dims(service=service),
        Period=60,
        Statistics=["Sum"],
        **window,
    )
    assert partial["Datapoints"] == []


def test_invalid_emf_stays_a_plain_log_event(k2_settings: K2Settings, cloudwatch: Any) -> None:
    logs = aws_client("logs", k2_settings)
    group, stream = _unique("/k2/test/plain"), "s"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    name = _unique("NotAMetric")
    now_ms = int(time.time() * 1000)
    document = {
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [
                {"Namespace": "K2Test", "Dimensions": [["route"]], "Metrics": [{"Name": name}]}
            ],
        },
        name: "not a number",
        "route": "/x",
    }
    logs.put_log_events(
        logGroupName=group,
        logStreamName=stream,
        logEvents=[{"timestamp": now_ms, "message": json.dumps(document)}],
    )
    events = logs.get_log_events(logGroupName=group, logStreamName=stream)["events"]
    assert [json.loads(event["message"]) for event in events] == [document]
    assert cloudwatch.list_metrics(Namespace="K2Test", MetricName=name)["Metrics"] == []


# -- percentiles ------------------------------------------------------------------------------


def test_percentiles_equal_an_independent_computation(cloudwatch: Any) -> None:
    namespace, at = _unique("K2Test"), _minute_ago(4) + timedelta(seconds=5)
    rng = random.Random(8)
    values = [round(rng.lognormvariate(4, 0.8), 3) for _ in range(1000)]
    for start in range(0, len(values), 150):  # at most 150 values per datum
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": "Latency",
                    "Dimensions": _dims(route="/v1/trades"),
                    "Timestamp": at,
                    "Values": values[start : start + 150],
                    "Unit": "Milliseconds",
                }
            ],
        )
    expected = {p: float(np.percentile(values, p, method="inverted_cdf")) for p in (50, 90, 99)}
    window = {"StartTime": at - timedelta(minutes=2), "EndTime": at + timedelta(minutes=2)}

    [point] = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName="Latency",
        Dimensions=_dims(route="/v1/trades"),
        Period=60,
        ExtendedStatistics=["p50", "p90", "p99"],
        **window,
    )["Datapoints"]
    assert point["ExtendedStatistics"] == {f"p{p}": value for p, value in expected.items()}

    metric = {
        "Namespace": namespace,
        "MetricName": "Latency",
        "Dimensions": _dims(route="/v1/trades"),
    }
    results = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {"Id": f"p{p}", "MetricStat": {"Metric": metric, "Period": 60, "Stat": f"p{p}"}}
            for p in expected
        ],
        **window,
    )["MetricDataResults"]
    assert {result["Id"]: result["Values"] for result in results} == {
        f"p{p}": [value] for p, value in expected.items()
    }


# -- SEARCH and metric math -------------------------------------------------------------------


def _put(
    cloudwatch: Any, namespace: str, name: str, at: datetime, value: float, **dims: str
) -> None:
    cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {"MetricName": name, "Dimensions": _dims(**dims), "Timestamp": at, "Value": value}
        ],
    )


def test_search_returns_every_matching_series_with_labels(cloudwatch: Any) -> None:
    namespace, at = _unique("K2Test"), _minute_ago(3)
    published = {"binance": 5.0, "kraken": 7.0, "coinbase": 11.0}
    for exchange, value in published.items():
        _put(cloudwatch, namespace, "TradesPublished", at, value, exchange=exchange, service="feed")
    _put(cloudwatch, namespace, "TradesPublished", at, 99, exchange="binance", service="other")
    _put(cloudwatch, namespace, "TradesPublished", at, 99, exchange="x", service="feed", symbol="s")
    _put(cloudwatch, namespace, "QuotesPublished", at, 99, exchange="binance", service="feed")
    expression = (
        f'SEARCH(\'{{{namespace},exchange,service}} MetricName="TradesPublished" '
        f"service=\"feed\"', 'Sum', 60)"
    )
    results = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {"Id": "s", "Expression": expression, "Label": "trades ${PROP('Dim.exchange')}"}
        ],
        StartTime=at - timedelta(minutes=1),
        EndTime=at + timedelta(minutes=1),
    )["MetricDataResults"]
    assert {result["Label"]: result["Values"] for result in results} == {
        f"trades {exchange}": [value] for exchange, value in published.items()
    }
    assert {result["Id"] for result in results} == {"s"}
    assert all(result["Timestamps"] == [at] for result in results)


def test_metric_math_equals_hand_computation(cloudwatch: Any) -> None:
    namespace, at = _unique("K2Test"), _minute_ago(6)
    returned = {("/a", 0): 10.0, ("/b", 0): 20.0, ("/a", 1): 30.0}
    scanned = {("/a", 0): 100.0, ("/b", 0): 50.0, ("/a", 1): 60.0, ("/b", 1): 40.0}
    for name, table in (("RowsReturned", returned), ("RowsScanned", scanned)):
        for (route, minute), value in table.items():
            _put(cloudwatch, namespace, name, at + timedelta(minutes=minute), value, route=route)

    def search(name: str) -> str:
        return f"SEARCH('{{{namespace},route}} MetricName=\"{name}\"', 'Sum', 60)"

    results = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {"Id": "returned", "Expression": search("RowsReturned"), "ReturnData": False},
            {"Id": "scanned", "Expression": search("RowsScanned"), "ReturnData": False},
            {"Id": "ratio", "Expression": "100 * SUM(returned) / SUM(scanned)", "Label": "r"},
            {"Id": "filled", "Expression": "SUM(FILL(returned, 0))", "Label": "f"},
        ],
        StartTime=at,
        EndTime=at + timedelta(minutes=3),
        ScanBy="TimestampAscending",
    )["MetricDataResults"]
    by_id = {result["Id"]: result for result in results}
    assert by_id["ratio"]["Values"] == pytest.approx([100 * 30 / 150, 100 * 30 / 100])
    assert by_id["ratio"]["Timestamps"] == [at, at + timedelta(minutes=1)]
    assert by_id["filled"]["Values"] == [30.0, 30.0, 0.0]
    assert set(by_id) == {"ratio", "filled"}


def test_unsupported_math_is_a_validation_error(cloudwatch: Any) -> None:
    at = _minute_ago(1)
    with pytest.raises(ClientError) as raised:
        cloudwatch.get_metric_data(
            MetricDataQueries=[{"Id": "e", "Expression": "ANOMALY_DETECTION_BAND(m, 2)"}],
            StartTime=at - timedelta(minutes=5),
            EndTime=at,
        )
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationError"
    assert "Unsupported function ANOMALY_DETECTION_BAND" in error["Message"]


# -- alarms -----------------------------------------------------------------------------------


def _alarm(cloudwatch: Any, name: str) -> dict[str, Any]:
    alarms: list[dict[str, Any]] = cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
    [alarm] = alarms
    return alarm


def test_an_alarm_fires_on_breaching_data_and_recovers(cloudwatch: Any) -> None:
    namespace, name = _unique("K2Test"), _unique("k2-test-alarm")
    alarm = {
        "AlarmName": name,
        "Namespace": namespace,
        "MetricName": "GoldTradeAge",
        "Dimensions": _dims(exchange="binance"),
        "Statistic": "Minimum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 10.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "missing",  # no data: stays INSUFFICIENT_DATA until the first point
    }
    cloudwatch.put_metric_alarm(**alarm)
    assert _alarm(cloudwatch, name)["StateValue"] == "INSUFFICIENT_DATA"

    now = datetime.now(UTC)
    _put(cloudwatch, namespace, "GoldTradeAge", now, 50.0, exchange="binance")
    fired = _wait_for(lambda: (a := _alarm(cloudwatch, name))["StateValue"] == "ALARM" and a)
    assert fired["StateReason"].startswith("Threshold Crossed: 1 datapoint [50.0 (")
    assert fired["StateReason"].endswith("was greater than the threshold (10.0).")
    reason_data = json.loads(fired["StateReasonData"])
    assert reason_data["recentDatapoints"] == [50.0]
    assert reason_data["statistic"] == "Minimum" and reason_data["period"] == 300

    cloudwatch.put_metric_alarm(**alarm)  # an update keeps the state, as in AWS
    assert _alarm(cloudwatch, name)["StateValue"] == "ALARM"

    _put(cloudwatch, namespace, "GoldTradeAge", datetime.now(UTC), 1.0, exchange="binance")
    recovered = _wait_for(lambda: (a := _alarm(cloudwatch, name))["StateValue"] == "OK" and a)
    assert "was not greater than the threshold (10.0)" in recovered["StateReason"]

    history = cloudwatch.describe_alarm_history(AlarmName=name, HistoryItemType="StateUpdate")
    summaries = [item["HistorySummary"] for item in history["AlarmHistoryItems"]]
    assert summaries == [
        "Alarm updated from ALARM to OK",
        "Alarm updated from INSUFFICIENT_DATA to ALARM",
    ]
