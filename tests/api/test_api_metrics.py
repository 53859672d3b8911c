"""The API's EMF documents: each metric as catalogued, errors counted by code and by route, and
the documents shipped to the local CloudWatch Logs by the real Lambda handler."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from k2.api import observability
from k2.local.cloud import LocalCloud
from k2.monitoring import metrics as m
from k2.monitoring.metrics import Component, MetricSpec
from k2.observability.emf import flush_shipped_metrics
from k2.settings import K2Settings
from tests.api.api_calls import invoke
from tests.api.api_testkit import load_handler_module
from tests.observability.metrics_testkit import Statistics, shipped_documents, statistics

CATALOGUED = {spec.name: spec for spec in m.metrics_of(Component.API)}


def metrics_in(document: dict[str, Any]) -> list[tuple[MetricSpec, float]]:
    """Each metric the document declares, checked against its catalogue entry."""
    found = []
    for directive in document["_aws"]["CloudWatchMetrics"]:
        assert directive["Namespace"] == m.Namespace.K2.value
        for metric in directive["Metrics"]:
            spec = CATALOGUED[metric["Name"]]
            assert metric["Unit"] == spec.unit.value, spec.name
            assert [sorted(names) for names in directive["Dimensions"]] == [
                sorted(spec.dimension_names)
            ], spec.name
            for dimension in spec.dimensions:
                if dimension.value is not None:
                    assert document[dimension.name] == dimension.value, spec.name
            (value,) = document[metric["Name"]]
            found.append((spec, value))
    return found


def printed(output: str) -> list[dict[str, Any]]:
    lines = (json.loads(line) for line in output.splitlines() if line.startswith("{"))
    return [document for document in lines if "_aws" in document]


# (route, status, error code or None, rows)
REQUESTS = [
    ("/v1/trades", 200, None, 7),
    ("/v1/trades", 400, "invalid_symbol", 0),
    ("/v1/trades", 400, "invalid_symbol", 0),
    ("/v1/ohlcv/{timeframe}", 400, "invalid_timeframe", 0),
    ("/v1/trades", 401, "missing_api_key", 0),
    ("/v1/replay", 500, "internal_error", 0),
    ("/health", 200, None, 0),
]


@pytest.mark.unit
def test_each_request_emits_catalogued_metrics_and_errors_by_code_and_by_route(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("K2_METRICS_LOG_GROUP", raising=False)
    capsys.readouterr()
    for route, status, code, rows in REQUESTS:
        facts = observability.RequestFacts(route=route, rows=rows, error_code=code)
        observability.emit_request_metrics(facts, status=status, latency_ms=3.5)

    documents = printed(capsys.readouterr().out)
    emitted = [(spec, value, d) for d in documents for spec, value in metrics_in(d)]

    assert {spec.name for spec, _, _ in emitted} == set(CATALOGUED)
    requests = Counter(d["route"] for spec, _, d in emitted if spec is m.API_REQUESTS)
    assert requests == Counter(route for route, *_ in REQUESTS)
    by_code = Counter((d["code"], d["status"]) for spec, _, d in emitted if spec is m.API_ERRORS)
    assert by_code == Counter((code, str(status)) for _, status, code, _ in REQUESTS if code)
    by_route = Counter(
        (d["route"], d["status"]) for spec, _, d in emitted if spec is m.API_ERRORS_BY_ROUTE
    )
    assert by_route == Counter((route, str(status)) for route, status, code, _ in REQUESTS if code)
    assert all(value == 1 for spec, value, _ in emitted if spec.name.startswith("Errors"))
    returned = [value for spec, value, _ in emitted if spec is m.API_ROWS_RETURNED]
    assert returned == [float(rows) for *_, rows in REQUESTS]


@pytest.mark.integration
def test_the_handler_ships_its_documents_to_the_local_cloudwatch_logs(
    local_cloud: LocalCloud,
    k2_settings: K2Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    group = f"/k2/test/api-metrics-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("K2_METRICS_LOG_GROUP", group)
    handler = load_handler_module(k2_settings, name="k2_api_handler_metrics_test")
    capsys.readouterr()
    answers = [
        ("/v1/trades", invoke(handler, "GET", "/v1/trades", api_key=None)),
        ("/v1/trades", invoke(handler, "GET", "/v1/trades", {"symbol": "?!"})),
        ("/v1/trades", invoke(handler, "GET", "/v1/trades", {"symbol": "?!"})),
        ("/v1/ohlcv/{timeframe}", invoke(handler, "GET", "/v1/ohlcv/7m", {"symbol": "BTCUSDT"})),
    ]
    errors = [(route, a.status, a.code) for route, a in answers]
    assert all(status >= 400 for _, status, _ in errors), errors
    expected_documents = 3 * len(answers)  # request, errors by code, errors by route
    shipped = shipped_documents(local_cloud, group, expected_documents)
    assert len(shipped) == expected_documents
    assert sorted(map(json.dumps, shipped)) == sorted(
        map(json.dumps, printed(capsys.readouterr().out))
    )
    emitted = [(spec, d) for d in shipped for spec, _ in metrics_in(d)]
    assert Counter(d["route"] for spec, d in emitted if spec is m.API_REQUESTS) == Counter(
        route for route, _ in answers
    )
    assert Counter((d["code"], d["status"]) for spec, d in emitted if spec is m.API_ERRORS) == (
        Counter((code, str(status)) for _, status, code in errors)
    )
    assert Counter(
        (d["route"], d["status"]) for spec, d in emitted if spec is m.API_ERRORS_BY_ROUTE
    ) == Counter((route, str(status)) for route, status, _ in errors)


@pytest.mark.integration
def test_the_local_cloudwatch_holds_the_api_metrics_with_their_values(
    local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Routes and codes of this test's own, so the metrics read back are its alone."""
    monkeypatch.setenv("K2_METRICS_LOG_GROUP", f"/k2/test/api-metrics-{uuid.uuid4().hex[:8]}")
    tag = uuid.uuid4().hex[:8]
    route, other_route, code = f"/v1/test-{tag}", f"/v1/test-{tag}/other", f"test_error_{tag}"
    requests = [  # (route, status, error code, rows, latency ms)
        (route, 200, None, 5, 12.0),
        (route, 200, None, 3, 30.0),
        (route, 404, code, 0, 4.0),
        (other_route, 404, code, 0, 6.0),
        (other_route, 503, code, 0, 2.5),
    ]
    since = datetime.now(UTC)
    for route_, status, error, rows, latency_ms in requests:
        facts = observability.RequestFacts(route=route_, rows=rows, error_code=error)
        observability.emit_request_metrics(facts, status=status, latency_ms=latency_ms)
    assert flush_shipped_metrics()
    until = datetime.now(UTC) + timedelta(minutes=1)

    def read(spec: MetricSpec, **dimensions: str) -> Statistics:
        values = {"service": m.API_SERVICE, **dimensions}
        return statistics(local_cloud, spec, values, since, until)

    served = read(m.API_REQUESTS, route=route)
    assert (served.sum, served.units) == (3.0, frozenset({"Count"}))
    latencies = read(m.API_LATENCY, route=route)
    assert (latencies.samples, latencies.maximum) == (3.0, 30.0)
    assert latencies.units == {m.API_LATENCY.unit.value}
    assert read(m.API_ROWS_RETURNED, route=route).sum == 8.0
    assert read(m.API_ERRORS, code=code, status="404").sum == 2.0
    assert read(m.API_ERRORS, code=code, status="503").sum == 1.0
    assert read(m.API_ERRORS_BY_ROUTE, route=route, status="404").sum == 1.0
    assert read(m.API_ERRORS_BY_ROUTE, route=other_route, status="404").sum == 1.0
    assert read(m.API_ERRORS_BY_ROUTE, route=other_route, status="503").sum == 1.0
    assert read(m.API_ERRORS_BY_ROUTE, route=route, status="503").samples == 0
