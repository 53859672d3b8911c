"""EMF documents → metrics, as CloudWatch Logs extracts them (the embedded metric format
specification), including documents written by Powertools itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from k2.monitoring.emf_extraction import (
    ExtractedMetric,
    InvalidEMFError,
    extract_metrics,
    parse_document,
)
from k2.observability.emf import ShippingEMFProvider

pytestmark = pytest.mark.unit

TIMESTAMP = 1_764_180_000_123


def _document(**root: Any) -> dict[str, Any]:
    return {
        "_aws": {
            "Timestamp": TIMESTAMP,
            "CloudWatchMetrics": [
                {
                    "Namespace": "K2",
                    "Dimensions": [["service", "exchange"]],
                    "Metrics": [{"Name": "Latency", "Unit": "Milliseconds"}],
                }
            ],
        },
        "service": "k2-api",
        "exchange": "binance",
        "Latency": 12.5,
        **root,
    }


def test_a_powertools_document_becomes_its_metrics() -> None:
    provider = ShippingEMFProvider(namespace="K2", service="k2-test", shipper=None)
    provider.add_dimension(name="exchange", value="kraken")
    provider.add_metric(name="TradesPublished", unit="Count", value=3)
    provider.add_metric(name="TradesPublished", unit="Count", value=4)
    provider.add_metric(name="BatchDuration", unit="Milliseconds", value=250.5)
    document = provider.serialize_metric_set()

    metrics = {metric.name: metric for metric in extract_metrics(json.dumps(document))}

    assert set(metrics) == {"TradesPublished", "BatchDuration"}
    trades = metrics["TradesPublished"]
    assert trades.namespace == "K2"
    assert dict(trades.dimensions) == {"service": "k2-test", "exchange": "kraken"}
    assert trades.values == (3.0, 4.0)
    assert trades.unit == "Count"
    assert trades.timestamp_ms == document["_aws"]["Timestamp"]
    assert metrics["BatchDuration"].values == (250.5,)
    assert metrics["BatchDuration"].unit == "Milliseconds"


def test_every_dimension_set_makes_its_own_metric() -> None:
    document = _document(Latency=[1, 2, 3])
    document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = [
        ["service", "exchange"],
        ["service"],
        [],
    ]
    metrics = parse_document(document)
    assert [metric.dimensions for metric in metrics] == [
        (("service", "k2-api"), ("exchange", "binance")),
        (("service", "k2-api"),),
        (),
    ]
    assert all(metric.values == (1.0, 2.0, 3.0) for metric in metrics)


def test_defaults_and_high_resolution() -> None:
    document = _document()
    document["_aws"]["CloudWatchMetrics"][0]["Metrics"] = [
        {"Name": "Latency", "StorageResolution": 1}
    ]
    [metric] = parse_document(document)
    assert metric == ExtractedMetric(
        namespace="K2",
        name="Latency",
        dimensions=(("service", "k2-api"), ("exchange", "binance")),
        values=(12.5,),
        unit="None",
        timestamp_ms=TIMESTAMP,
        storage_resolution=1,
    )


def _broken(change: str) -> dict[str, Any]:
    document = _document()
    directive = document["_aws"]["CloudWatchMetrics"][0]
    if change == "no _aws":
        del document["_aws"]
    elif change == "no timestamp":
        del document["_aws"]["Timestamp"]
    elif change == "no namespace":
        del directive["Namespace"]
    elif change == "metric value missing":
        del document["Latency"]
    elif change == "metric value a string":
        document["Latency"] = "12"
    elif change == "metric value a boolean":
        document["Latency"] = True
    elif change == "array with a string":
        document["Latency"] = [1, "2"]
    elif change == "over 100 values":
        document["Latency"] = list(range(101))
    elif change == "dimension value missing":
        del document["exchange"]
    elif change == "dimension value a number":
        document["exchange"] = 7
    elif change == "unknown unit":
        directive["Metrics"][0]["Unit"] = "Furlongs"
    elif change == "bad resolution":
        directive["Metrics"][0]["StorageResolution"] = 5
    elif change == "dimensions not a list of lists":
        directive["Dimensions"] = ["service"]
    return document


@pytest.mark.parametrize(
    "change",
    [
        "no _aws",
        "no timestamp",
        "no namespace",
        "metric value missing",
        "metric value a string",
        "metric value a boolean",
        "array with a string",
        "over 100 values",
        "dimension value missing",
        "dimension value a number",
        "unknown unit",
        "bad resolution",
        "dimensions not a list of lists",
    ],
)
def test_invalid_documents_make_no_metric(change: str) -> None:
    document = _broken(change)
    with pytest.raises(InvalidEMFError):
        parse_document(document)
    assert extract_metrics(json.dumps(document)) == []


@pytest.mark.parametrize("message", ["", "plain text with _aws in it", "[1, 2]", '{"_aws": 1}'])
def test_plain_log_lines_make_no_metric(message: str) -> None:
    assert extract_metrics(message) == []
