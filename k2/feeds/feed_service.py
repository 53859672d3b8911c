"""Wiring one feed handler process: settings in, exchange feed, Kafka, registry, signals.

This is what ``k2 feed --exchange X`` runs, locally and as the Fargate service's entry point.
SIGTERM (what ECS sends before stopping a task) and SIGINT set the stop event; the handler then
drains and flushes before the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

from k2.aws import aws_client
from k2.domain.markets import Exchange
from k2.feeds.binance_feed import BinanceFeed
from k2.feeds.exchange_feed import ExchangeFeed
from k2.feeds.feed_handler import BackfillPolicy, FeedCounters, FeedHandler
from k2.feeds.feed_metrics import FeedMetricsReporter
from k2.feeds.feed_settings import FeedSettings
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.kafka_producer import build_producer
from k2.feeds.kraken_feed import KrakenFeed
from k2.feeds.liveness import LivenessRecorder, handler_progress
from k2.feeds.market_data_publisher import MarketDataPublisher
from k2.feeds.resume_points import read_resume_points
from k2.feeds.websocket_session import SessionPolicy
from k2.settings import K2Settings

SERVICE = "k2-feed-handler"


def build_feed(settings: FeedSettings) -> ExchangeFeed[Any, Any]:
    if settings.exchange is Exchange.BINANCE:
        key = settings.binance_api_key
        return BinanceFeed(
            settings.websocket_url,
            settings.rest_base_url,
            settings.exchange_symbols,
            api_key=None if key is None else key.get_secret_value(),
        )
    return KrakenFeed(settings.websocket_url, settings.rest_base_url, settings.exchange_symbols)


def session_policy(settings: FeedSettings) -> SessionPolicy:
    return SessionPolicy(
        stale_after=settings.stale_after,
        rotate_after=settings.rotate_after,
        backoff_initial=settings.backoff_initial_s,
        backoff_max=settings.backoff_max_s,
        open_timeout=settings.open_timeout_s,
        rotation_overlap_timeout=settings.rotation_overlap_timeout_s,
    )


def build_handler(settings: FeedSettings, k2_settings: K2Settings) -> FeedHandler[Any, Any]:
    """A handler whose schemas are registered, topics known and (by default) resume points read
    from Kafka, ready to ``run``."""
    producer = build_producer(k2_settings, client_id=f"k2-feed-{settings.exchange.value}")
    registry = GlueSchemaRegistry(aws_client("glue", k2_settings), k2_settings.schema_registry_name)
    publisher = MarketDataPublisher(producer, registry, settings.exchange)
    publisher.prepare()
    feed = build_feed(settings)
    resume = None
    if settings.resume_from_kafka:
        resume = read_resume_points(k2_settings, feed, registry)
    return FeedHandler(
        feed,
        publisher,
        session_policy(settings),
        queue_size=settings.queue_size,
        backfill=BackfillPolicy(
            attempts=settings.backfill_attempts,
            retry_delay=settings.backfill_retry_delay_s,
            max_ids=settings.backfill_max_ids,
        ),
        resume=resume,
    )


async def run_feed(
    settings: FeedSettings, k2_settings: K2Settings, stop: asyncio.Event
) -> FeedCounters:
    """Run one handler with its metrics and liveness file until ``stop``; close the producer
    afterwards. The liveness file is left as it is: a stopped handler is simply stale."""
    handler = build_handler(settings, k2_settings)
    reporter = FeedMetricsReporter(handler)
    liveness = LivenessRecorder(settings.liveness_file, lambda: handler_progress(handler))
    background = [
        asyncio.create_task(reporter.run(settings.metrics_interval_s)),
        asyncio.create_task(liveness.run()),
    ]
    try:
        return await handler.run(stop)
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        reporter.emit()
        handler.publisher.close()


def configure_logging(exchange: Exchange) -> Logger:
    """Structured JSON logs for this process and every ``k2`` module logger."""
    logger = Logger(service=SERVICE)
    logger.append_keys(exchange=exchange.value)
    copy_config_to_registered_loggers(source_logger=logger, include={"k2"})
    for name in ("k2.feeds",):
        logging.getLogger(name).setLevel(logging.INFO)
    return logger


def serve(settings: FeedSettings, k2_settings: K2Settings, *, duration: float | None = None) -> int:
    """The process entry point: run until SIGTERM/SIGINT (or ``duration`` seconds); exit code."""
    logger = configure_logging(settings.exchange)

    async def main() -> FeedCounters:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        if duration is not None:
            loop.call_later(duration, stop.set)
        return await run_feed(settings, k2_settings, stop)

    try:
        counters = asyncio.run(main())
    except Exception:
        logger.exception("feed handler failed")
        return 1
    logger.info("feed handler stopped", extra={"counters": counters.__dict__})
    return 0
