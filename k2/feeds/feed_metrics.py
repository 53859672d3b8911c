"""The feed handler's metrics, as CloudWatch embedded-metric-format lines (Powertools).

A Fargate task has no Lambda invocation to flush metrics at, so the reporter flushes on an
interval: each flush carries the counters' increase since the previous one, and the p50/p99 lag
from exchange trade time to Kafka acknowledgement over that interval. The namespace is the
platform's one namespace, ``K2``; the ``service`` dimension tells these metrics from the API's
(``k2.monitoring.metrics`` lists them all). Each reporter has a metric set of its own
(:func:`k2.observability.emf.emf_metrics`), so two handlers in one process never mix.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from k2.domain.markets import Exchange
from k2.feeds.feed_handler import FeedHandler
from k2.observability.emf import NAMESPACE, ShippingEMFProvider, emf_metrics

SERVICE = "k2-feed-handler"

__all__ = ["NAMESPACE", "SERVICE", "FeedMetricsReporter", "feed_metrics", "lag_percentiles_ms"]

_COUNTER_NAMES = {
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
    "reconnects": "Reconnects",
    "rotations": "Rotations",
    "stale_connections": "StaleConnections",
    "connect_failures": "ConnectFailures",
    "shutdown_notices": "ServerShutdownNotices",
}


def lag_percentiles_ms(lags_us: list[int]) -> tuple[float, float] | None:
    """(p50, p99) in milliseconds, or None without at least two samples."""
    if len(lags_us) < 2:
        return None
    cuts = statistics.quantiles(lags_us, n=100, method="inclusive")
    return cuts[49] / 1000, cuts[98] / 1000


def feed_metrics(exchange: Exchange, *, to_stdout: bool | None = None) -> ShippingEMFProvider:
    """One exchange's metric set (``service`` and ``exchange`` dimensions)."""
    return emf_metrics(SERVICE, to_stdout=to_stdout, exchange=exchange.value)


class FeedMetricsReporter:
    """Turns one handler's counters into metric deltas, dimensioned by exchange."""

    def __init__(
        self, handler: FeedHandler[Any, Any], metrics: ShippingEMFProvider | None = None
    ) -> None:
        self._handler = handler
        self._metrics = metrics or feed_metrics(handler.feed.exchange)
        self._previous: dict[str, int] = {}
        self._lock = threading.Lock()
        """Held while the metric set is filled or flushed: a flush still running on its thread
        when ``run`` is cancelled must finish before a final ``emit`` touches the set."""

    def totals(self) -> dict[str, int]:
        session = self._handler.session.stats
        return {
            **asdict(self._handler.counters),
            "reconnects": session.reconnects,
            "rotations": session.rotations,
            "stale_connections": session.stale_connections,
            "connect_failures": session.connect_failures,
            "shutdown_notices": session.shutdown_notices,
        }

    def emit(self) -> dict[str, float]:
        """Add this interval's metrics and flush them; returns what was emitted."""
        with self._lock:
            emitted = self._collect()
            self._metrics.flush_metrics()
        return emitted

    def _collect(self) -> dict[str, float]:
        """This interval's metrics into the metric set (read where the handler runs)."""
        emitted: dict[str, float] = {}
        totals = self.totals()
        for field, name in _COUNTER_NAMES.items():
            delta = totals[field] - self._previous.get(field, 0)
            self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=delta)
            emitted[name] = delta
        self._previous = totals
        lags = self._handler.publisher.stats.lag_us
        samples = [lags.popleft() for _ in range(len(lags))]
        percentiles = lag_percentiles_ms(samples)
        if percentiles is not None:
            for name, value in zip(("LagP50", "LagP99"), percentiles, strict=True):
                self._metrics.add_metric(name=name, unit=MetricUnit.Milliseconds, value=value)
                emitted[name] = value
        self._metrics.add_metric(
            name="QueueDepth", unit=MetricUnit.Count, value=self._handler.queue.qsize()
        )
        return emitted

    async def run(self, interval: float) -> None:
        """Emit every ``interval`` seconds until cancelled. The counters are read on the event
        loop; the flush, which may ship the document over the network, runs on a thread so it
        never holds up the handler."""
        while True:
            await asyncio.sleep(interval)
            with self._lock:
                self._collect()
            await asyncio.to_thread(self._flush)

    def _flush(self) -> None:
        with self._lock:
            self._metrics.flush_metrics()
