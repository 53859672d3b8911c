"""EMF providers: a metric set of their own each, stdout optional, and documents shipped to a
CloudWatch Logs group of the real test cloud when ``K2_METRICS_LOG_GROUP`` says so."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from k2.local.cloud import LocalCloud
from k2.monitoring.metrics import Component, Dimension, MetricSpec, Namespace, Unit
from k2.observability.emf import NAMESPACE, emf_metrics, flush_shipped_metrics
from tests.observability.metrics_testkit import shipped_documents, statistics


def printed_documents(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.fixture
def no_shipping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("K2_METRICS_LOG_GROUP", raising=False)


@pytest.mark.unit
@pytest.mark.usefixtures("no_shipping")
def test_two_providers_of_one_service_never_share_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    binance = emf_metrics("k2-test-emf", exchange="binance")
    kraken = emf_metrics("k2-test-emf", exchange="kraken")
    binance.add_metric(name="Frames", unit="Count", value=3)
    kraken.add_metric(name="Frames", unit="Count", value=5)
    kraken.add_metric(name="Reconnects", unit="Count", value=1)

    binance.flush_metrics()
    first = printed_documents(capsys.readouterr().out)
    kraken.flush_metrics()
    second = printed_documents(capsys.readouterr().out)

    assert len(first) == len(second) == 1
    assert (first[0]["exchange"], first[0]["Frames"]) == ("binance", [3.0])
    assert "Reconnects" not in first[0]
    assert (second[0]["exchange"], second[0]["Frames"], second[0]["Reconnects"]) == (
        "kraken",
        [5.0],
        [1.0],
    )
    for document in (*first, *second):
        directive = document["_aws"]["CloudWatchMetrics"][0]
        assert directive["Namespace"] == NAMESPACE
        assert sorted(directive["Dimensions"][0]) == ["exchange", "service"]
        assert document["service"] == "k2-test-emf"


@pytest.mark.unit
@pytest.mark.usefixtures("no_shipping")
def test_a_flush_empties_the_set_and_keeps_the_default_dimensions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = emf_metrics("k2-test-emf", exchange="kraken")
    metrics.add_metric(name="Frames", unit="Count", value=1)
    metrics.flush_metrics()
    metrics.add_metric(name="Frames", unit="Count", value=2)
    metrics.flush_metrics()

    documents = printed_documents(capsys.readouterr().out)
    assert [(d["exchange"], d["Frames"]) for d in documents] == [
        ("kraken", [1.0]),
        ("kraken", [2.0]),
    ]


@pytest.mark.unit
@pytest.mark.usefixtures("no_shipping")
def test_without_stdout_and_without_a_log_group_nothing_is_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    metrics = emf_metrics("k2-test-emf", to_stdout=False, exchange="binance")
    metrics.add_metric(name="Frames", unit="Count", value=1)
    metrics.flush_metrics()
    assert capsys.readouterr().out == ""
    assert metrics.metric_set == {}


@pytest.mark.integration
@pytest.mark.parametrize("to_stdout", [True, False], ids=["printed", "not-printed"])
def test_documents_are_shipped_to_the_log_group(
    local_cloud: LocalCloud,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    to_stdout: bool,
) -> None:
    group = f"/k2/test/emf-{uuid.uuid4().hex[:8]}"
    service = f"k2-test-emf-{uuid.uuid4().hex[:8]}"  # its metrics are this test's alone
    monkeypatch.setenv("K2_METRICS_LOG_GROUP", group)
    since = datetime.now(UTC)
    metrics = emf_metrics(service, to_stdout=to_stdout, exchange="binance")
    for value in (4, 7):
        metrics.add_metric(name="Frames", unit="Count", value=value)
        metrics.flush_metrics()

    shipped = shipped_documents(local_cloud, group, expected=2)
    printed = printed_documents(capsys.readouterr().out)

    assert [d["Frames"] for d in shipped] == [[4.0], [7.0]]
    assert all(d["exchange"] == "binance" and d["service"] == service for d in shipped)
    assert printed == (shipped if to_stdout else [])  # byte for byte the same document
    streams = local_cloud.layout.aws_client("logs").describe_log_streams(logGroupName=group)
    assert [s["logStreamName"].split("/")[0] for s in streams["logStreams"]] == [service]
    # The endpoint's CloudWatch Logs extracted the metrics, as CloudWatch does.
    frames = MetricSpec(
        "Frames",
        Namespace.K2,
        (Dimension("service", service), Dimension("exchange")),
        Unit.COUNT,
        Component.FEED_HANDLER,
        "Test metric.",
    )
    dimensions = {"service": service, "exchange": "binance"}
    extracted = statistics(local_cloud, frames, dimensions, since, since + timedelta(minutes=5))
    assert (extracted.sum, extracted.samples, extracted.units) == (11.0, 2.0, frozenset({"Count"}))


@pytest.mark.integration
@pytest.mark.usefixtures("no_shipping")
def test_shipping_queues_and_a_flush_delivers_every_document_in_order(
    local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = f"/k2/test/emf-batch-{uuid.uuid4().hex[:8]}"
    service = f"k2-test-emf-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("K2_METRICS_LOG_GROUP", group)
    metrics = emf_metrics(service, to_stdout=False)
    start = datetime.now(UTC) - timedelta(minutes=1)
    for value in range(300):  # timestamps not in shipping order: PutLogEvents needs them sorted
        metrics.set_timestamp(start + timedelta(milliseconds=(value * 7919) % 300))
        metrics.add_metric(name="Frames", unit="Count", value=value)
        metrics.flush_metrics()

    assert flush_shipped_metrics()

    shipped = shipped_documents(local_cloud, group, expected=300)
    assert sorted(d["Frames"][0] for d in shipped) == [float(v) for v in range(300)]
