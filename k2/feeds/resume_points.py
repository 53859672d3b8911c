"""Where a restarted feed handler picks up: the trades its predecessor already published.

A deployment, a crash or a scale-in restarts the handler. Without memory it would take the first
trade it sees as the start, losing the trades made while no handler ran (Binance has no replay on
subscribe) and re-publishing Kraken's snapshot. So on start it reads the tail of its trades topic:
the ids found there seed each symbol's :class:`~k2.feeds.trade_sequence.TradeSequence`, the first
live trade then reveals the outage as an ordinary gap, and REST backfills it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from k2.domain.markets import DataType, raw_topic
from k2.feeds.exchange_feed import ExchangeFeed
from k2.feeds.glue_schema_registry import (
    GlueSchemaRegistry,
    SchemaRegistryFramingError,
    unframe,
)
from k2.feeds.topic_reader import read_between, tail_offsets
from k2.settings import K2Settings

log = logging.getLogger(__name__)

DEFAULT_TAIL_RECORDS = 5_000
"""Records read back per partition: far more than any restart's overlap at real trade rates."""


@dataclass(frozen=True)
class ResumePoint:
    """Recently published trade ids of one symbol, with each trade's time (UTC µs)."""

    trade_times: dict[int, int]

    @property
    def highest(self) -> int:
        return max(self.trade_times)


def read_resume_points(
    settings: K2Settings,
    feed: ExchangeFeed[Any, Any],
    registry: GlueSchemaRegistry,
    *,
    tail_records: int = DEFAULT_TAIL_RECORDS,
) -> dict[str, ResumePoint]:
    """Per subscribed symbol, the trades found in the tail of the exchange's trades topic."""
    topic = raw_topic(DataType.TRADES, feed.exchange)
    times: defaultdict[str, dict[int, int]] = defaultdict(dict)
    records = read_between(settings, tail_offsets(settings, [topic], tail_records))
    unreadable: set[UUID] = set()
    skipped = 0
    for record in records:
        try:
            version_id, _ = unframe(record.value)
            if version_id in unreadable:
                skipped += 1
                continue
            _, value = registry.deserialize(record.value)
        except SchemaRegistryFramingError:
            skipped += 1
            continue
        except registry.glue.exceptions.EntityNotFoundException:
            unreadable.add(version_id)  # a registry that lost versions: a rebuilt local cloud
            skipped += 1
            continue
        symbol, trade_id, time_us = feed.published_trade_identity(value)
        if symbol in feed.symbols:
            times[symbol][trade_id] = time_us
    if skipped:
        log.warning("resume: %d records in the tail of %s could not be read", skipped, topic)
    points = {symbol: ResumePoint(trade_times) for symbol, trade_times in times.items()}
    for symbol, point in points.items():
        log.info(
            "resuming %s after trade %d (%d recent trades read back)",
            symbol,
            point.highest,
            len(point.trade_times),
        )
    return points
