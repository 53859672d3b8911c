"""The metric catalog against the code that emits: names, dimensions, units and namespace are
read from the EMF documents the real emitters print, never copied from them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from aws_lambda_powertools import Metrics
from kafka import KafkaProducer

from k2.api import observability
from k2.domain.markets import Exchange
from k2.feeds.binance_feed import BinanceFeed
from k2.feeds.feed_handler import FeedHandler
from k2.feeds.feed_metrics import FeedMetricsReporter
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.market_data_publisher import MarketDataPublisher
from k2.feeds.websocket_session import SessionPolicy
from k2.monitoring import metrics as m
from k2.monitoring.metrics import CATALOG, Component, MetricSpec, Namespace, Resource
from k2.monitoring.reference import metric_table

pytestmark = pytest.mark.unit

DOC = Path(__file__).parents[2] / "docs" / "monitoring.md"


@dataclass(frozen=True)
class EmittedMetric:
    namespace: str
    dimensions: frozenset[str]
    unit: str
    values: dict[str, str]


def emitted_metrics(output: str) -> dict[str, EmittedMetric]:
    """Every metric declared in the EMF documents printed on stdout."""
    found: dict[str, EmittedMetric] = {}
    for line in output.splitlines():
        if not line.strip():
            continue
        document: dict[str, Any] = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                values = {name: document[name] for name in dimension_set}
                for metric in directive["Metrics"]:
                    found[metric["Name"]] = EmittedMetric(
                        directive["Namespace"], frozenset(dimension_set), metric["Unit"], values
                    )
    return found


def assert_matches(spec: MetricSpec, emitted: EmittedMetric) -> None:
    assert emitted.namespace == spec.namespace.value, spec.name
    assert emitted.dimensions == set(spec.dimension_names), spec.name
    assert emitted.unit == spec.unit.value, spec.name
    for dimension in spec.dimensions:
        if dimension.value is not None:
            assert emitted.values[dimension.name] == dimension.value, spec.name


@pytest.fixture(autouse=True)
def fresh_powertools_metrics() -> Iterator[None]:
    """Powertools shares metrics and default dimensions between ``Metrics`` instances."""

    def clear() -> None:
        metrics = Metrics()
        metrics.clear_default_dimensions()
        metrics.clear_metrics()

    clear()
    yield
    clear()


def feed_handler() -> FeedHandler[Any, Any]:
    """A real handler that is never run: no socket, no Kafka."""
    feed = BinanceFeed("ws://127.0.0.1:9", "http://127.0.0.1:9", ("BTCUSDT",))
    publisher = MarketDataPublisher(
        cast(KafkaProducer, None), cast(GlueSchemaRegistry, None), Exchange.BINANCE
    )
    return FeedHandler(feed, publisher, SessionPolicy(stale_after=30.0), queue_size=10)


def test_the_feed_handler_emits_exactly_its_catalogued_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = feed_handler()
    reporter = FeedMetricsReporter(handler)
    handler.publisher.stats.lag_us.extend([1_000, 2_000, 3_000])  # enough for percentiles
    capsys.readouterr()

    reporter.emit()
    emitted = emitted_metrics(capsys.readouterr().out)

    catalogued = {spec.name: spec for spec in m.metrics_of(Component.FEED_HANDLER)}
    assert set(emitted) == set(catalogued)
    for name, spec in catalogued.items():
        assert spec.emitted, name
        assert_matches(spec, emitted[name])
    assert {metric.values["exchange"] for metric in emitted.values()} == {"binance"}


def test_the_api_emits_its_catalogued_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    facts = observability.RequestFacts(route="/v1/trades", rows=2, error_code="internal_error")

    observability.emit_request_metrics(facts, status=500, latency_ms=12.5)
    emitted = emitted_metrics(capsys.readouterr().out)

    catalogued = {spec.name: spec for spec in m.metrics_of(Component.API) if spec.emitted}
    assert set(emitted) == set(catalogued)
    for name, spec in catalogued.items():
        assert_matches(spec, emitted[name])
    assert all(spec.emitted for spec in m.metrics_of(Component.API))


def test_one_namespace_for_everything_we_emit() -> None:
    ours = [spec for spec in CATALOG if spec.namespace is Namespace.K2]
    assert {spec.component for spec in ours} == {
        Component.FEED_HANDLER,
        Component.API,
        Component.SPARK_JOBS,
        Component.FRESHNESS_CHECK,
    }
    # The service dimension tells the emitters apart.
    services = {
        spec.component: {d.value for d in spec.dimensions if d.name == "service"} for spec in ours
    }
    assert all(len(values) == 1 for values in services.values())
    assert len({next(iter(values)) for values in services.values()}) == len(services)


def test_what_is_not_emitted_yet_says_who_should_emit_it() -> None:
    not_yet = {spec.name: spec.component for spec in CATALOG if not spec.emitted}
    assert not_yet == {}
    # AWS emits its own metrics; ours are only "emitted" once code writes them.
    assert all(spec.emitted for spec in CATALOG if spec.namespace is not Namespace.K2)


def test_the_requirement_list_is_covered() -> None:
    """The issue's list: each item names the catalogued metrics that answer it."""
    required: dict[str, tuple[MetricSpec, ...]] = {
        "messages in per exchange": (m.FRAMES,),
        "messages out per exchange": (m.TRADES_PUBLISHED, m.QUOTES_PUBLISHED),
        "DLQ by reason": (m.DEAD_LETTERS, m.SILVER_DEAD_LETTERS_BY_REASON),
        "validation failures by reason": (m.SILVER_DEAD_LETTERS_BY_REASON,),
        "gaps and backfills": (m.GAPS_DETECTED, m.TRADES_BACKFILLED, m.UNFILLED_TRADE_IDS),
        "reconnects": (m.RECONNECTS,),
        "consumer lag": (m.CONSUMER_LAG,),
        "batch durations and rows": (m.BATCH_DURATION, m.ROWS_WRITTEN),
        "freshness": (m.GOLD_TRADE_AGE,),
        "API latency by endpoint": (m.API_LATENCY,),
        "API errors by endpoint and code": (m.API_ERRORS, m.API_ERRORS_BY_ROUTE),
    }
    for item, specs in required.items():
        assert all(spec in CATALOG for spec in specs), item
    assert "exchange" in m.FRAMES.dimension_names
    assert {"reason_class", "reason"} <= set(m.SILVER_DEAD_LETTERS_BY_REASON.dimension_names)
    assert "route" in m.API_LATENCY.dimension_names
    assert "code" in m.API_ERRORS.dimension_names


def test_catalog_entries_are_distinct_and_described() -> None:
    assert len({spec.key for spec in CATALOG}) == len(CATALOG)
    assert len({(spec.namespace, spec.name) for spec in CATALOG}) == len(CATALOG)
    for spec in CATALOG:
        assert spec.meaning.endswith((".", ")")), spec.name
        assert len(set(spec.dimension_names)) == len(spec.dimensions), spec.name
        for dimension in spec.dimensions:
            assert dimension.value is None or isinstance(dimension.value, (str, Resource))


def test_the_document_carries_the_current_metric_table() -> None:
    document = DOC.read_text(encoding="utf-8")
    assert metric_table() in document, "regenerate with k2.monitoring.reference"
