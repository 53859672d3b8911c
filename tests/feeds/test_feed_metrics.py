"""The feed handler's metrics: lag percentiles, and the CloudWatch EMF document each flush prints.

The reporter is built around a real (not running) ``FeedHandler``: a real exchange feed, a real
publisher whose Kafka producer and registry are never touched, and a real session object. The
test sets the counters the handler and its session would have counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, cast

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka import KafkaProducer

from k2.domain.markets import Exchange
from k2.feeds.binance_feed import BinanceFeed
from k2.feeds.exchange_feed import ExchangeFeed
from k2.feeds.feed_handler import FeedHandler
from k2.feeds.feed_metrics import NAMESPACE, FeedMetricsReporter, lag_percentiles_ms
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.kraken_feed import KrakenFeed
from k2.feeds.market_data_publisher import MarketDataPublisher
from k2.feeds.websocket_session import ReceivedFrame, SessionPolicy

pytestmark = pytest.mark.unit

COUNTERS = {
    "frames": "Frames",
    "trades_published": "TradesPublished",
    "quotes_published": "QuotesPublished",
    "duplicate_trades": "DuplicateTradesDropped",
    "duplicate_quotes": "DuplicateQuotesDropped",
    "dead_letters": "DeadLetters",
    "gaps_detected": "GapsDetected",
    "trade_ids_missing": "TradeIdsMissing",
    "trades_backfilled": "TradesBackfilled",
    "backfill_errors": "BackfillErrors",
    "unfilled_trade_ids": "UnfilledTradeIds",
    "exchange_errors": "ExchangeErrors",
}
SESSION_COUNTERS = {
    "reconnects": "Reconnects",
    "rotations": "Rotations",
    "stale_connections": "StaleConnections",
    "connect_failures": "ConnectFailures",
    "shutdown_notices": "ServerShutdownNotices",
}


# -- lag percentiles -----------------------------------------------------------------------------


def test_fewer_than_two_samples_give_no_percentiles() -> None:
    assert lag_percentiles_ms([]) is None
    assert lag_percentiles_ms([1_500]) is None


def test_percentiles_of_known_samples() -> None:
    assert lag_percentiles_ms([0, 1_000]) == pytest.approx((0.5, 0.99))
    # 1..100 ms: linear interpolation between closest ranks.
    p50, p99 = lag_percentiles_ms([ms * 1_000 for ms in range(100, 0, -1)]) or (0.0, 0.0)
    assert p50 == pytest.approx(50.5)
    assert p99 == pytest.approx(99.01)


def sorted_index_percentile(samples: list[int], fraction: float) -> float:
    """Linear interpolation between the closest ranks of the sorted samples."""
    ordered = sorted(samples)
    position = (len(ordered) - 1) * fraction
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


@given(st.lists(st.integers(min_value=-5_000_000, max_value=600_000_000), min_size=2))
def test_percentiles_match_an_independent_computation(lags_us: list[int]) -> None:
    result = lag_percentiles_ms(lags_us)

    assert result is not None
    p50_ms, p99_ms = result
    expected = numpy.percentile(numpy.array(lags_us, dtype=numpy.float64), [50, 99]) / 1_000
    assert p50_ms == pytest.approx(float(expected[0]), rel=1e-9, abs=1e-6)
    assert p99_ms == pytest.approx(float(expected[1]), rel=1e-9, abs=1e-6)
    assert p50_ms == pytest.approx(sorted_index_percentile(lags_us, 0.50) / 1_000, abs=1e-6)
    assert p99_ms == pytest.approx(sorted_index_percentile(lags_us, 0.99) / 1_000, abs=1e-6)
    assert min(lags_us) / 1_000 - 1e-9 <= p50_ms <= p99_ms <= max(lags_us) / 1_000 + 1e-9


# -- the reporter --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def print_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """These reporters' numbers are made up: print them, never ship them to a log group."""
    monkeypatch.delenv("K2_METRICS_LOG_GROUP", raising=False)


def handler_for(exchange: Exchange) -> FeedHandler[Any, Any]:
    """A real handler that is never run: nothing here opens a socket or talks to Kafka."""
    feed: ExchangeFeed[Any, Any]
    if exchange is Exchange.BINANCE:
        feed = BinanceFeed("ws://127.0.0.1:9", "http://127.0.0.1:9", ("BTCUSDT",))
    else:
        feed = KrakenFeed("ws://127.0.0.1:9", "http://127.0.0.1:9", ("BTC/USD",))
    publisher = MarketDataPublisher(
        cast(KafkaProducer, None), cast(GlueSchemaRegistry, None), exchange
    )
    return FeedHandler(feed, publisher, SessionPolicy(stale_after=30.0), queue_size=100)


def emitted_document(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The one EMF line the flush printed, parsed."""
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    document = json.loads(lines[0])
    assert isinstance(document, dict)
    return document


def metric_values(document: dict[str, Any]) -> dict[str, float]:
    """Each declared metric's single value."""
    declared = document["_aws"]["CloudWatchMetrics"]
    assert len(declared) == 1
    values: dict[str, float] = {}
    for metric in declared[0]["Metrics"]:
        value = document[metric["Name"]]
        assert isinstance(value, list) and len(value) == 1, (metric["Name"], value)
        values[metric["Name"]] = value[0]
    return values


def metric_units(document: dict[str, Any]) -> dict[str, str]:
    return {
        metric["Name"]: metric["Unit"]
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }


def test_each_emit_prints_one_emf_document_with_the_increase_since_the_last(
    capsys: pytest.CaptureFixture[str],
) -> None:
    handler = handler_for(Exchange.BINANCE)
    reporter = FeedMetricsReporter(handler)
    capsys.readouterr()

    for number, field in enumerate(COUNTERS, start=1):
        setattr(handler.counters, field, number * 10)
    for number, field in enumerate(SESSION_COUNTERS, start=1):
        setattr(handler.session.stats, field, number)
    handler.publisher.stats.lag_us.extend([3_000, 1_000, 2_000, 4_000])
    for connection in (1, 1, 2):
        handler.queue.put_nowait(ReceivedFrame(b"{}", 0, connection))

    returned = reporter.emit()
    document = emitted_document(capsys)

    declared = document["_aws"]["CloudWatchMetrics"][0]
    assert declared["Namespace"] == NAMESPACE == "K2"
    assert ["exchange"] in [
        [name for name in dimensions if name == "exchange"] for dimensions in declared["Dimensions"]
    ]
    assert document["exchange"] == "binance"
    assert isinstance(document["_aws"]["Timestamp"], int)

    values = metric_values(document)
    expected = {name: float(number * 10) for number, name in enumerate(COUNTERS.values(), 1)}
    expected |= {name: float(number) for number, name in enumerate(SESSION_COUNTERS.values(), 1)}
    lags = numpy.percentile([1_000, 2_000, 3_000, 4_000], [50, 99]) / 1_000
    expected |= {"LagP50": float(lags[0]), "LagP99": float(lags[1]), "QueueDepth": 3.0}
    assert values == pytest.approx(expected)
    assert values["LagP50"] == pytest.approx(2.5)
    assert values["LagP99"] == pytest.approx(3.97)
    units = metric_units(document)
    assert units["LagP50"] == units["LagP99"] == "Milliseconds"
    assert {units[name] for name in [*COUNTERS.values(), *SESSION_COUNTERS.values()]} == {"Count"}
    assert units["QueueDepth"] == "Count"
    assert returned == pytest.approx({k: v for k, v in expected.items() if k != "QueueDepth"})
    assert len(handler.publisher.stats.lag_us) == 0  # the samples were this interval's

    # Second interval: only some counters moved, one lag sample (too few for percentiles).
    handler.counters.frames += 7
    handler.counters.trades_published += 5
    handler.counters.gaps_detected += 1
    handler.session.stats.reconnects += 2
    handler.publisher.stats.lag_us.append(9_000)
    handler.queue.get_nowait()

    reporter.emit()
    values = metric_values(emitted_document(capsys))

    increases = {"Frames": 7.0, "TradesPublished": 5.0, "GapsDetected": 1.0, "Reconnects": 2.0}
    for name in [*COUNTERS.values(), *SESSION_COUNTERS.values()]:
        assert values[name] == increases.get(name, 0.0), name
    assert "LagP50" not in values
    assert "LagP99" not in values
    assert values["QueueDepth"] == 2.0
    assert len(handler.publisher.stats.lag_us) == 0  # a lone sample is dropped, not carried

    # Nothing happened: every counter reports zero, and a zero is still reported.
    reporter.emit()
    values = metric_values(emitted_document(capsys))
    assert {name: values[name] for name in [*COUNTERS.values(), *SESSION_COUNTERS.values()]} == {
        name: 0.0 for name in [*COUNTERS.values(), *SESSION_COUNTERS.values()]
    }


def test_the_exchange_dimension_follows_the_handler(capsys: pytest.CaptureFixture[str]) -> None:
    handler = handler_for(Exchange.KRAKEN)
    handler.counters.trades_published = 3

    returned = FeedMetricsReporter(handler).emit()

    document = emitted_document(capsys)
    assert document["exchange"] == "kraken"
    assert metric_values(document)["TradesPublished"] == 3.0
    assert returned["TradesPublished"] == 3


def test_two_handlers_in_one_process_report_apart(capsys: pytest.CaptureFixture[str]) -> None:
    """As in the demo: both exchanges' reporters in one process, each with its own metric set."""
    binance, kraken = handler_for(Exchange.BINANCE), handler_for(Exchange.KRAKEN)
    binance_reporter, kraken_reporter = FeedMetricsReporter(binance), FeedMetricsReporter(kraken)
    binance.counters.frames, kraken.counters.frames = 11, 4
    kraken.session.stats.reconnects = 2

    binance_reporter.emit()
    first = emitted_document(capsys)
    kraken_reporter.emit()
    second = emitted_document(capsys)

    assert (first["exchange"], metric_values(first)["Frames"]) == ("binance", 11.0)
    assert metric_values(first)["Reconnects"] == 0.0
    assert (second["exchange"], metric_values(second)["Frames"]) == ("kraken", 4.0)
    assert metric_values(second)["Reconnects"] == 2.0


def test_a_reporter_run_flushes_on_its_interval(capsys: pytest.CaptureFixture[str]) -> None:
    handler = handler_for(Exchange.BINANCE)
    reporter = FeedMetricsReporter(handler)
    handler.counters.trades_published = 5
    output: list[str] = []

    async def two_intervals() -> None:
        task = asyncio.create_task(reporter.run(0.01))
        while not output or not output[-1]:  # polled until the first flush has printed
            await asyncio.sleep(0.01)
            output.append(capsys.readouterr().out)
        handler.counters.trades_published += 3
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        reporter.emit()  # the final flush after the run stops

    asyncio.run(two_intervals())
    output.append(capsys.readouterr().out)
    documents = [json.loads(line) for line in "".join(output).splitlines() if line.strip()]
    assert len(documents) >= 2
    assert sum(metric_values(d)["TradesPublished"] for d in documents) == 8.0
    assert metric_values(documents[0])["TradesPublished"] == 5.0
