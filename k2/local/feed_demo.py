"""The demo's feed step: both feed handlers against the running exchange simulator, every fault
injected through its control endpoint, then Kafka reconciled against the ground truth.

The handlers run in this process (one event loop, as two Fargate tasks would run side by side);
the simulator is the one ``k2 local up`` started, so its ground-truth log is independent of us.
Each handler has its metrics reporter, as in its own process, flushing every
:data:`METRICS_INTERVAL_S` and once more at the end; the EMF documents are only shipped to the
local CloudWatch Logs (``K2_METRICS_LOG_GROUP``), never printed: stdout is the demo's console.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from k2.aws import aws_client
from k2.domain.markets import DataType, Exchange, dlq_topic, raw_topic
from k2.feeds.feed_handler import FeedHandler
from k2.feeds.feed_metrics import FeedMetricsReporter, feed_metrics
from k2.feeds.feed_service import build_handler
from k2.feeds.feed_settings import FeedSettings
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.market_data_publisher import DLQ_KIND_HEADER
from k2.feeds.topic_reader import end_offsets, read_between
from k2.local.feed_reconciliation import (
    SymbolReconciliation,
    published_trade,
    read_ground_truth,
    reconcile,
)
from k2.local.layout import LocalCloudLayout

Handlers = dict[Exchange, FeedHandler[Any, Any]]

# (seconds after the start, fault request) — every fault kind the simulator knows, both exchanges.
FAULT_PLAN: list[tuple[float, dict[str, object]]] = [
    (0.20, {"fault": "skip", "count": 20}),
    (0.30, {"fault": "duplicate", "count": 10}),
    (0.40, {"fault": "malformed", "count": 3}),
    (0.50, {"fault": "disconnect"}),
    (0.60, {"fault": "server_shutdown"}),
    (0.70, {"fault": "stall", "duration": 4}),
]
"""Times are fractions of the run; the last 25% is quiet so every gap can be filled."""

METRICS_INTERVAL_S = 10.0
"""The demo's flush interval (a deployed handler's is a minute): short enough that a demo run
leaves a few datapoints per exchange, not just the final flush."""


@dataclass(frozen=True)
class FeedDemoReport:
    seconds: float
    reconciliations: list[SymbolReconciliation]
    quotes: dict[Exchange, int]
    dead_letters: dict[Exchange, int]
    malformed_sent: dict[Exchange, int]
    faults_injected: list[str]
    handlers: Handlers

    @property
    def exact(self) -> bool:
        return (
            all(r.exact for r in self.reconciliations) and self.dead_letters == self.malformed_sent
        )


def _control(url: str, path: str, body: dict[str, object] | None = None) -> dict[str, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the simulator on loopback
        url + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        result: dict[str, Any] = json.load(response)
    return result


async def _run_handlers(
    handlers: Handlers,
    layout: LocalCloudLayout,
    seconds: float,
    on_tick: Callable[[Handlers], None],
) -> list[str]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(handler.run(stop)) for handler in handlers.values()]
    reporters = [
        FeedMetricsReporter(handler, feed_metrics(exchange, to_stdout=False))
        for exchange, handler in handlers.items()
    ]
    reporting = [asyncio.create_task(reporter.run(METRICS_INTERVAL_S)) for reporter in reporters]
    injected: list[str] = []
    started = time.monotonic()
    plan = sorted(FAULT_PLAN, key=lambda item: item[0])
    try:
        while (elapsed := time.monotonic() - started) < seconds:
            while plan and plan[0][0] * seconds <= elapsed:
                _, fault = plan.pop(0)
                await asyncio.to_thread(
                    _control, layout.simulator_control_url, "/control/fault", fault
                )
                injected.append(str(fault["fault"]))
            on_tick(handlers)
            await asyncio.sleep(0.25)
            for task in tasks:
                if task.done():
                    task.result()  # a handler that failed ends the demo with its error
    finally:
        stop.set()
        try:
            await asyncio.gather(*tasks)
        finally:
            for reporter_task in reporting:
                reporter_task.cancel()
            await asyncio.gather(*reporting, return_exceptions=True)
            for reporter in reporters:
                await asyncio.to_thread(reporter.emit)  # what happened since the last flush
        await asyncio.to_thread(_control, layout.simulator_control_url, "/control/clear", {})
        on_tick(handlers)
    return injected


def run_feed_demo(
    layout: LocalCloudLayout, seconds: float, on_tick: Callable[[Handlers], None]
) -> FeedDemoReport:
    settings = layout.client_settings()
    topics = [raw_topic(t, e) for t in DataType for e in Exchange] + [
        dlq_topic(e) for e in Exchange
    ]
    start = end_offsets(settings, topics)
    malformed_before = _control(layout.simulator_control_url, "/control/stats")["malformed_frames"]
    handlers: Handlers = {
        exchange: build_handler(
            FeedSettings(
                exchange=exchange,
                stale_after_s=2.0,
                backoff_initial_s=0.2,
                backfill_retry_delay_s=0.2,
                rotation_overlap_timeout_s=3.0,
                resume_from_kafka=False,  # each demo run is reconciled as its own window
            ),
            settings,
        )
        for exchange in Exchange
    }
    try:
        injected = asyncio.run(_run_handlers(handlers, layout, seconds, on_tick))
    finally:
        for handler in handlers.values():
            handler.publisher.close()
    malformed_after = _control(layout.simulator_control_url, "/control/stats")["malformed_frames"]
    records = read_between(settings, start)
    registry = GlueSchemaRegistry(aws_client("glue", settings), settings.schema_registry_name)
    published = [
        published_trade(exchange, registry.deserialize(record.value)[1])
        for exchange in Exchange
        for record in records
        if record.topic == raw_topic(DataType.TRADES, exchange)
    ]
    kinds = Counter((record.topic, dict(record.headers).get(DLQ_KIND_HEADER)) for record in records)
    return FeedDemoReport(
        seconds=seconds,
        reconciliations=reconcile(read_ground_truth(layout.simulator_ground_truth), published),
        quotes={
            e: sum(1 for r in records if r.topic == raw_topic(DataType.QUOTES, e)) for e in Exchange
        },
        dead_letters={e: kinds[(dlq_topic(e), b"malformed_frame")] for e in Exchange},
        malformed_sent={e: malformed_after[e.value] - malformed_before[e.value] for e in Exchange},
        faults_injected=injected,
        handlers=handlers,
    )
