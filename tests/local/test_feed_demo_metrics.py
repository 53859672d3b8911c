"""The demo's feed step reports the feed metrics a deployed handler would: shipped to the local
CloudWatch Logs (never printed on the demo's console), each as catalogued, and adding up to what
Kafka and the simulator's ground truth say happened."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from k2.domain.markets import Exchange
from k2.local import feed_demo
from k2.local.cloud import LocalCloud
from k2.monitoring import metrics as m
from k2.monitoring.metrics import Component
from tests.observability.metrics_testkit import shipped_documents, statistics

pytestmark = pytest.mark.integration

CATALOGUED = {spec.name: spec for spec in m.metrics_of(Component.FEED_HANDLER)}
DEMO_SECONDS = 12.0


def check_catalogued(document: dict[str, Any]) -> dict[str, float]:
    """The document's metrics, each checked against its catalogue entry."""
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == m.Namespace.K2.value
    values = {}
    for metric in directive["Metrics"]:
        spec = CATALOGUED[metric["Name"]]
        assert metric["Unit"] == spec.unit.value, spec.name
        assert [sorted(names) for names in directive["Dimensions"]] == [
            sorted(spec.dimension_names)
        ]
        for dimension in spec.dimensions:
            if dimension.value is not None:
                assert document[dimension.name] == dimension.value
        (values[spec.name],) = document[spec.name]
    return values


def test_the_demo_ships_feed_metrics_that_add_up(
    local_cloud: LocalCloud,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    group = f"/k2/test/feed-demo-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("K2_METRICS_LOG_GROUP", group)
    monkeypatch.setattr(feed_demo, "METRICS_INTERVAL_S", 4.0)

    since = datetime.now(UTC)
    report = feed_demo.run_feed_demo(local_cloud.layout, DEMO_SECONDS, lambda handlers: None)

    assert '"_aws"' not in capsys.readouterr().out  # the console stays the demo's
    # every interval's flush plus the final one, for both exchanges (two of slack)
    expected = 2 * int(DEMO_SECONDS // 4.0 + 1) - 2
    documents = shipped_documents(local_cloud, group, expected)
    totals: dict[Exchange, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    flushes: dict[Exchange, int] = defaultdict(int)
    for document in documents:
        exchange = Exchange(document["exchange"])
        flushes[exchange] += 1
        for name, value in check_catalogued(document).items():
            if CATALOGUED[name].unit is m.Unit.COUNT and name != "QueueDepth":
                totals[exchange][name] += value

    assert set(flushes) == set(Exchange) and min(flushes.values()) >= 2
    for exchange in Exchange:
        handler = report.handlers[exchange]
        got = totals[exchange]
        published = sum(r.published for r in report.reconciliations if r.exchange is exchange)
        assert got["TradesPublished"] == published > 0, exchange  # Kafka's raw trade records
        assert got["QuotesPublished"] == report.quotes[exchange], exchange
        assert got["DeadLetters"] == report.malformed_sent[exchange] > 0, exchange  # simulator
        assert got["Frames"] == handler.counters.frames, exchange
        assert got["GapsDetected"] == handler.counters.gaps_detected > 0, exchange
        assert got["Reconnects"] == handler.session.stats.reconnects, exchange
        assert got["ServerShutdownNotices"] == handler.session.stats.shutdown_notices, exchange

    # And the same totals from the metrics the endpoint's CloudWatch extracted.
    until = datetime.now(UTC) + timedelta(minutes=1)
    for exchange in Exchange:
        dimensions = {"service": m.FEED_SERVICE, "exchange": exchange.value}
        for name in ("TradesPublished", "QuotesPublished", "DeadLetters", "Frames"):
            extracted = statistics(local_cloud, CATALOGUED[name], dimensions, since, until)
            assert extracted.sum == totals[exchange][name], (exchange, name)
            assert extracted.samples == flushes[exchange], (exchange, name)
