"""The local gateway publishes what AWS's API Gateway and Lambda would: checked against the
catalogue, and, through a real gateway process and the local endpoint's CloudWatch, against the
requests this test made."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from k2.local.cloud import LocalCloud
from k2.local.gateway_metrics import (
    MAX_VALUES_PER_DATUM,
    Datapoint,
    invocation_datapoints,
    metric_data,
    request_datapoints,
)
from k2.local.monitoring_resources import local_resources
from k2.monitoring import metrics as m
from k2.monitoring.metrics import Component, MetricSpec, Resource
from k2.settings import K2Settings
from tests.local.gateway_process import free_port, start_gateway_process, stop_gateway_process
from tests.observability.metrics_testkit import Statistics, statistics

AT = datetime(2026, 11, 26, 12, 30, 15, tzinfo=UTC)
RESOURCES = {Resource.API_NAME: "k2-test-api", Resource.API_FUNCTION: "k2-test-fn"}


def published_specs() -> set[MetricSpec]:
    points = [*request_datapoints(200, 1.0, AT), *invocation_datapoints(1.0, False, AT)]
    return {point.spec for point in points}


@pytest.mark.unit
def test_it_publishes_the_catalogued_gateway_and_lambda_metrics_but_throttles() -> None:
    catalogued = {*m.metrics_of(Component.API_GATEWAY), *m.metrics_of(Component.LAMBDA)}
    assert published_specs() == catalogued - {m.LAMBDA_THROTTLES}


@pytest.mark.unit
def test_each_datum_carries_the_catalogued_namespace_unit_and_dimensions() -> None:
    points = [*request_datapoints(503, 7.5, AT), *invocation_datapoints(3.25, True, AT)]
    data = metric_data(points, RESOURCES)

    catalogue = {(spec.namespace.value, spec.name): spec for spec in m.CATALOG}
    for namespace, datums in data.items():
        for datum in datums:
            spec = catalogue[(namespace, datum["MetricName"])]
            assert datum["Unit"] == spec.unit.value
            names = [dimension["Name"] for dimension in datum["Dimensions"]]
            assert names == list(spec.dimension_names)
            for dimension in datum["Dimensions"]:
                resource = next(d.value for d in spec.dimensions if d.name == dimension["Name"])
                assert isinstance(resource, Resource)
                assert dimension["Value"] == RESOURCES[resource]
    values = {(ns, d["MetricName"]): d["Values"] for ns, ds in data.items() for d in ds}
    assert values == {
        ("AWS/ApiGateway", "Count"): [1.0],
        ("AWS/ApiGateway", "4XXError"): [0.0],
        ("AWS/ApiGateway", "5XXError"): [1.0],
        ("AWS/ApiGateway", "Latency"): [7.5],
        ("AWS/Lambda", "Invocations"): [1.0],
        ("AWS/Lambda", "Errors"): [1.0],
        ("AWS/Lambda", "Duration"): [3.25],
    }


@pytest.mark.unit
def test_datapoints_are_grouped_per_metric_and_second_with_counts() -> None:
    a_moment_later = AT + timedelta(milliseconds=400)
    next_second = AT + timedelta(seconds=1, milliseconds=50)
    statuses = [200, 200, 404, 429, 502, 200]
    points = [
        point
        for index, status in enumerate(statuses)
        for point in request_datapoints(status, 10.0 * (index % 2), a_moment_later)
    ]
    points += request_datapoints(200, 10.0, next_second)
    data = metric_data(points, RESOURCES)["AWS/ApiGateway"]

    by_key = {(d["MetricName"], d["Timestamp"]): d for d in data}
    second, later = AT, AT + timedelta(seconds=1)  # each datum stamped with its whole second
    assert by_key[("Count", second)]["Values"] == [1.0]
    assert by_key[("Count", second)]["Counts"] == [6.0]
    assert by_key[("4XXError", second)]["Values"] == [0.0, 1.0]
    assert by_key[("4XXError", second)]["Counts"] == [4.0, 2.0]  # the 404 and the 429
    assert by_key[("5XXError", second)]["Counts"] == [5.0, 1.0]
    assert by_key[("Latency", second)]["Values"] == [0.0, 10.0]
    assert by_key[("Latency", second)]["Counts"] == [3.0, 3.0]
    assert by_key[("Count", later)]["Counts"] == [1.0]


@pytest.mark.unit
def test_a_datum_holds_at_most_150_distinct_values() -> None:
    points = [Datapoint(m.GATEWAY_LATENCY, float(ms), AT) for ms in range(400)]
    data = metric_data(points, RESOURCES)["AWS/ApiGateway"]
    assert [len(d["Values"]) for d in data] == [MAX_VALUES_PER_DATUM, MAX_VALUES_PER_DATUM, 100]
    assert sorted(v for d in data for v in d["Values"]) == [float(ms) for ms in range(400)]


# --- a real gateway process in front of the test cloud -----------------------------------------

HANDLER = """
def handler(event, context):
    if event["path"] == "/boom":
        raise RuntimeError("failed on purpose")
    status = 404 if event["path"] == "/missing" else 200
    return {"statusCode": status, "headers": {}, "body": "{}"}
"""
OPEN_KEY = "metrics-open-" + "o" * 30
TIGHT_KEY = "metrics-tight-" + "t" * 30
PLANS = {
    "keys": [
        {"id": "metricsopen", "name": "open", "value": OPEN_KEY, "plan": "open"},
        {"id": "metricstght", "name": "tight", "value": TIGHT_KEY, "plan": "tight"},
    ],
    "plans": {
        "open": {"rate_limit": 1000, "burst_limit": 1000, "quota": None},
        "tight": {"rate_limit": 0.01, "burst_limit": 2, "quota": None},
    },
}


@pytest.fixture
def environment_name() -> str:
    """An environment of its own, so its ApiName and FunctionName hold only this test's data."""
    return f"gwm{uuid.uuid4().hex[:8]}"


@pytest.fixture
def gateway(
    local_cloud: LocalCloud, tmp_path: Path, environment_name: str
) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    (tmp_path / "metrics_handler.py").write_text(HANDLER)
    (tmp_path / "plans.json").write_text(json.dumps(PLANS))
    port = free_port()
    log = tmp_path / "gateway.log"
    env = {
        **os.environ,
        **local_cloud.layout.client_environment(),
        "K2_ENVIRONMENT": environment_name,
    }
    process = start_gateway_process(
        port, f"{tmp_path / 'metrics_handler.py'}:handler", tmp_path / "plans.json", log, env=env
    )
    try:
        yield port, process, log
    finally:
        stop_gateway_process(process)


def _call(port: int, method: str, path: str, key: str | None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, headers={"X-API-Key": key} if key else {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.mark.integration
def test_gateway_and_lambda_metrics_reconcile_with_the_requests_made(
    local_cloud: LocalCloud,
    gateway: tuple[int, subprocess.Popen[bytes], Path],
    environment_name: str,
) -> None:
    port, process, log = gateway
    since = datetime.now(UTC)
    calls = [
        ("GET", "/ok", OPEN_KEY),
        ("GET", "/ok", OPEN_KEY),
        ("POST", "/ok", OPEN_KEY),
        ("GET", "/missing", OPEN_KEY),  # the function answers 404: a 4XX, not a Lambda error
        ("GET", "/boom", OPEN_KEY),  # the function raises: 502 and a Lambda error
        ("GET", "/boom", OPEN_KEY),
        ("GET", "/ok", None),  # no key: 403 from the gateway, the function never runs
        ("GET", "/ok", "not-a-key-" + "x" * 30),
        ("TRACE", "/ok", OPEN_KEY),  # not a method of the API: 403
        *[("GET", "/ok", TIGHT_KEY)] * 4,  # a burst of 2, then 429s
    ]
    statuses = [_call(port, method, path, key) for method, path, key in calls]
    by_class = Counter(status // 100 for status in statuses)
    assert statuses.count(429) == 2 and statuses.count(502) == 2, statuses
    invoked = [
        (path, status)
        for (_, path, key), status in zip(calls, statuses, strict=True)
        if key in (OPEN_KEY, TIGHT_KEY) and status not in (403, 429)
    ]

    process.terminate()  # SIGTERM: whatever is still buffered is sent before the exit
    assert process.wait(timeout=30) == 0, log.read_text()

    names = local_resources(K2Settings(environment=environment_name))
    api, function = names[Resource.API_NAME], names[Resource.API_FUNCTION]
    until = datetime.now(UTC) + timedelta(minutes=2)

    def _statistics(spec: MetricSpec, value: str) -> Statistics:
        return statistics(local_cloud, spec, {spec.dimensions[0].name: value}, since, until)

    count = _statistics(m.GATEWAY_COUNT, api)
    assert count.sum == len(calls)
    assert _statistics(m.GATEWAY_4XX, api).sum == by_class[4]
    assert _statistics(m.GATEWAY_5XX, api).sum == by_class[5]
    latency = _statistics(m.GATEWAY_LATENCY, api)
    assert latency.samples == len(calls) and latency.maximum > 0
    assert latency.units == {m.GATEWAY_LATENCY.unit.value}
    assert _statistics(m.LAMBDA_INVOCATIONS, function).sum == len(invoked)
    errors = _statistics(m.LAMBDA_ERRORS, function)
    assert errors.sum == sum(1 for path, _ in invoked if path == "/boom")
    assert errors.samples == len(invoked)
    duration = _statistics(m.LAMBDA_DURATION, function)
    assert duration.samples == len(invoked)
    assert duration.units == {m.LAMBDA_DURATION.unit.value}
    assert _statistics(m.LAMBDA_THROTTLES, function).samples == 0
