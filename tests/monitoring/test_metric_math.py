"""GetMetricData's pure core: statistics and percentiles, SEARCH with dynamic labels, and metric
math, each checked against numbers computed by hand or by numpy."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from k2.monitoring.metric_math import MetricMathError, evaluate_queries
from k2.monitoring.metric_search import MetricIdentity, parse_search, render_label, search
from k2.monitoring.metric_statistics import Sample, nearest_rank, percentile_of, statistic_value

pytestmark = pytest.mark.unit

START = 1_764_180_000.0  # a whole hour
END = START + 300


def _identity(name: str, namespace: str = "K2", **dimensions: str) -> MetricIdentity:
    return MetricIdentity.of(namespace, name, dimensions.items())


def _samples(*pairs: tuple[float, float]) -> list[Sample]:
    """(seconds after START, value)."""
    return [Sample(START + offset, value) for offset, value in pairs]


# -- statistics --------------------------------------------------------------------------------


@pytest.mark.parametrize("percent", [50, 90, 99, 99.9, 0.5, 100])
def test_percentiles_are_nearest_rank(percent: float) -> None:
    rng = random.Random(percent)
    values = [rng.lognormvariate(3, 1) for _ in range(1234)]
    expected = float(np.percentile(values, percent, method="inverted_cdf"))
    assert statistic_value(values, f"p{percent:g}") == expected


def test_small_samples_and_basic_statistics() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert nearest_rank(values, 50) == 2.0  # rank ceil(0.5 * 4) = 2
    assert nearest_rank(values, 51) == 3.0
    assert nearest_rank(values, 99) == 4.0
    assert nearest_rank([7.0], 99.9) == 7.0
    assert [statistic_value(values, s) for s in ("SampleCount", "Sum", "Average")] == [4, 10, 2.5]
    assert [statistic_value(values, s) for s in ("Minimum", "Maximum")] == [1.0, 4.0]
    assert statistic_value([], "Sum") is None
    assert percentile_of("p99.99") == 99.99
    assert percentile_of("tm99") is None
    assert percentile_of("p101") is None


# -- SEARCH and labels -------------------------------------------------------------------------

FEED_SCHEMA = "{K2,exchange,service}"


def _feed_store() -> dict[MetricIdentity, list[Sample]]:
    return {
        _identity("TradesPublished", exchange="binance", service="k2-feed-handler"): _samples(
            (10, 5), (70, 7)
        ),
        _identity("TradesPublished", exchange="kraken", service="k2-feed-handler"): _samples(
            (20, 1)
        ),
        # same name, another dimension set: must not leak into the schema's search
        _identity(
            "TradesPublished", exchange="kraken", service="k2-feed-handler", symbol="BTCUSDT"
        ): _samples((20, 100)),
        # another service: filtered out by the term
        _identity("TradesPublished", exchange="binance", service="k2-other"): _samples((20, 50)),
        _identity("QuotesPublished", exchange="binance", service="k2-feed-handler"): _samples(
            (20, 9)
        ),
    }


def test_search_matches_schema_and_terms_exactly() -> None:
    text = f'{FEED_SCHEMA} MetricName="TradesPublished" service="k2-feed-handler"'
    found = search(text, _feed_store())
    assert [dict(m.dimensions)["exchange"] for m in found] == ["binance", "kraken"]
    assert all(len(m.dimensions) == 2 and m.name == "TradesPublished" for m in found)
    # a bare word matches any property, case-insensitively
    assert len(search("{K2,exchange,service} quotes", _feed_store())) == 1
    with pytest.raises(ValueError, match="not supported"):
        parse_search('MetricName="A" OR MetricName="B"')


def test_dynamic_labels() -> None:
    properties = {"Dim.exchange": "binance", "MetricName": "TradesPublished"}
    assert render_label("${PROP('MetricName')} ${PROP('Dim.exchange')}", properties, "d") == (
        "TradesPublished binance"
    )
    assert render_label("${LABEL} (max ${MAX})", properties, "default", [1.0, 3.0]) == (
        "default (max 3)"
    )
    assert render_label("${PROP('Dim.route')}", properties, "d") == "${PROP('Dim.route')}"


def _run(
    *queries: dict[str, Any], store: Any = None
) -> dict[str, list[tuple[str, list[float | None]]]]:
    outputs = evaluate_queries(list(queries), START, END, _feed_store() if store is None else store)
    return {
        output.query_id: [(line.label, list(line.values)) for line in output.series]
        for output in outputs
    }


def test_search_returns_one_labelled_line_per_metric() -> None:
    expression = (
        f'SEARCH(\'{FEED_SCHEMA} MetricName="TradesPublished" service="k2-feed-handler"\', '
        "'Sum', 60)"
    )
    result = _run({"Id": "s", "Expression": expression, "Label": "trades ${PROP('Dim.exchange')}"})
    assert result == {
        "s": [
            ("trades binance", [5.0, 7.0, None, None, None]),
            ("trades kraken", [1.0, None, None, None, None]),
        ]
    }


# -- metric math -------------------------------------------------------------------------------


def _stat(query_id: str, exchange: str, stat: str = "Sum", period: int = 60) -> dict[str, Any]:
    dimensions = [
        {"Name": "exchange", "Value": exchange},
        {"Name": "service", "Value": "k2-feed-handler"},
    ]
    metric = {"Namespace": "K2", "MetricName": "TradesPublished", "Dimensions": dimensions}
    return {
        "Id": query_id,
        "MetricStat": {"Metric": metric, "Period": period, "Stat": stat},
        "ReturnData": False,
    }


def test_sum_of_filled_array_like_the_dlq_alarm() -> None:
    result = _run(
        _stat("b", "binance"),
        _stat("k", "kraken"),
        {"Id": "total", "Expression": "SUM(FILL([b, k], 0))", "Label": "all"},
    )
    # binance 5 | 7 | - ; kraken 1 | - | -  → 6, 7, 0, 0, 0
    assert result == {"total": [("all", [6.0, 7.0, 0.0, 0.0, 0.0])]}


def test_ratio_of_search_sums_like_the_scan_efficiency_panel() -> None:
    store = {
        _identity("RowsReturned", route="/a", service="k2-api"): _samples((5, 10), (65, 30)),
        _identity("RowsReturned", route="/b", service="k2-api"): _samples((5, 20)),
        _identity("RowsScanned", route="/a", service="k2-api"): _samples((5, 100), (65, 60)),
        _identity("RowsScanned", route="/b", service="k2-api"): _samples((5, 50)),
    }

    def search_of(name: str) -> str:
        return f"SEARCH('{{K2,route,service}} MetricName=\"{name}\"', 'Sum', 60)"

    result = _run(
        {"Id": "returned", "Expression": search_of("RowsReturned"), "ReturnData": False},
        {"Id": "scanned", "Expression": search_of("RowsScanned"), "ReturnData": False},
        {"Id": "ratio", "Expression": "100 * SUM(returned) / SUM(scanned)", "Label": "r"},
        store=store,
    )
    [(label, values)] = result["ratio"]
    assert label == "r"
    assert values[0] == pytest.approx(100 * (10 + 20) / (100 + 50))
    assert values[1] == pytest.approx(100 * 30 / 60)
    assert values[2:] == [None, None, None]


def test_arithmetic_fill_abs_and_scalars() -> None:
    result = _run(
        _stat("b", "binance"),
        _stat("k", "kraken"),
        {"Id": "diff", "Expression": "ABS(FILL(k, 0) - b) * 2", "Label": "d"},
        {"Id": "neg", "Expression": "-b / 0", "Label": "n"},
        {"Id": "total", "Expression": "SUM(b)", "Label": "t", "Period": 60},
    )
    assert result["diff"] == [("d", [8.0, 14.0, None, None, None])]
    assert result["neg"] == [("n", [None] * 5)]  # division by zero leaves points out
    assert result["total"] == [("t", [12.0] * 5)]  # a single number drawn across the range


def test_percentile_metric_stat() -> None:
    values = [float(v) for v in range(1, 201)]
    store = {_identity("Latency", route="/a"): [Sample(START + 1, v) for v in values]}
    metric = {
        "Namespace": "K2",
        "MetricName": "Latency",
        "Dimensions": [{"Name": "route", "Value": "/a"}],
    }
    result = _run(
        {"Id": "p", "MetricStat": {"Metric": metric, "Period": 300, "Stat": "p99"}}, store=store
    )
    assert result == {"p": [("Latency", [float(np.percentile(values, 99, method="inverted_cdf"))])]}


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("RATE(b)", "Unsupported function RATE"),
        ("b ** 2", "Unsupported syntax"),
        ("FILL(b, REPEAT)", "Unknown metric id 'REPEAT'"),
        ("nope + 1", "Unknown metric id 'nope'"),
        ("b +", "Syntax error"),
        ("__import__('os')", "Unsupported function __import__"),
        ("SELECT SUM(x) FROM K2", "Metrics Insights"),
        ("[b, b] + [b]", "two arrays"),
    ],
)
def test_unsupported_expressions_fail_clearly(expression: str, message: str) -> None:
    with pytest.raises(MetricMathError, match=message.replace("(", r"\(")):
        _run(_stat("b", "binance"), {"Id": "e", "Expression": expression})


def test_query_list_errors() -> None:
    with pytest.raises(MetricMathError, match="more than one"):
        _run(_stat("b", "binance"), _stat("b", "kraken"))
    with pytest.raises(MetricMathError, match="Circular"):
        _run({"Id": "a", "Expression": "c + 1"}, {"Id": "c", "Expression": "a + 1"})
    with pytest.raises(MetricMathError, match="statistic"):
        _run(_stat("b", "binance", stat="tm99") | {"ReturnData": True})
