"""The freshness check: how old the newest trade in gold is, per exchange (``GoldTradeAge``).

Measured from outside the pipeline, so a pipeline that stopped shows as stale instead of going
quiet. In AWS it is a Lambda on a one-minute schedule (:func:`handler`); locally
``python -m k2.jobs.freshness [--every 60]``.

The read is cheap: pyiceberg plans only the files whose ``timestamp`` can lie within the
lookback (days partitions and column statistics prune the rest), then reads them newest upper
bound first, one at a time, and stops as soon as no unread file can hold a newer trade for any
exchange. Normally that is the newest file or two.

An exchange with no gold trade within :attr:`FreshnessSettings.lookback_hours` gets no datapoint:
the freshness alarm treats missing data as breaching, so "nothing at all" alarms like "too old",
and the check never reads more than the lookback for an exchange that is gone. Emitting a made-up
large age instead would put a number on the dashboard that nobody measured.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pyiceberg.conversions import from_bytes
from pyiceberg.expressions import And, GreaterThanOrEqual, LessThanOrEqual
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table import _to_arrow_via_file_scan_tasks as arrow_from_tasks
from pyiceberg.types import TimestamptzType

from k2.domain.markets import Exchange
from k2.lake.catalog import glue_catalog
from k2.lake.tables import gold_trades_table
from k2.monitoring.metrics import FRESHNESS_SERVICE, GOLD_TRADE_AGE
from k2.observability.emf import emf_metrics
from k2.settings import K2Settings

TIME_COLUMN = "timestamp"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

log = logging.getLogger(__name__)


class FreshnessSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="K2_FRESHNESS_", extra="ignore", frozen=True)

    exchanges: tuple[Exchange, ...] = tuple(Exchange)
    lookback_hours: float = Field(6.0, gt=0)
    """How far back a newest trade is looked for; beyond it an exchange reports nothing."""


def trade_ages(newest: Mapping[Exchange, datetime], now: datetime) -> dict[Exchange, float]:
    """Seconds from each exchange's newest trade to ``now`` (never negative: a trade stamped
    ahead of this clock is as fresh as it gets)."""
    return {
        exchange: max(0.0, (now - timestamp).total_seconds())
        for exchange, timestamp in newest.items()
    }


def _upper_bound(task: FileScanTask, field_id: int) -> datetime | None:
    """The newest ``timestamp`` the file's statistics allow, or None when it has none."""
    bound = (task.file.upper_bounds or {}).get(field_id)
    if bound is None:
        return None
    micros = int(from_bytes(TimestamptzType(), bound))
    return EPOCH + timedelta(microseconds=micros)


def _micros(instant: datetime) -> int:
    return (instant - EPOCH) // timedelta(microseconds=1)


@dataclass(frozen=True)
class NewestTrades:
    times: dict[Exchange, datetime]
    """Per exchange, its newest trade time; exchanges without one in the window are absent."""
    files_planned: int
    """Data files whose statistics allow a trade in the window."""
    files_read: int


def newest_trade_times(
    table: Table, exchanges: Iterable[Exchange], since: datetime, until: datetime
) -> NewestTrades:
    """Per exchange, its newest trade time in ``[since, until]``."""
    wanted = {exchange.value: exchange for exchange in exchanges}
    data_scan = table.scan(
        row_filter=And(
            GreaterThanOrEqual(term=TIME_COLUMN, literal=_micros(since)),  # type: ignore[call-arg]
            LessThanOrEqual(term=TIME_COLUMN, literal=_micros(until)),  # type: ignore[call-arg]
        ),
        selected_fields=("exchange", TIME_COLUMN),
    )
    field_id = table.schema().find_field(TIME_COLUMN).field_id
    far_future = datetime.max.replace(tzinfo=UTC)
    bounded = [
        (_upper_bound(task, field_id) or far_future, task) for task in data_scan.plan_files()
    ]
    bounded.sort(key=lambda item: item[0], reverse=True)
    newest: dict[Exchange, datetime] = {}
    read = 0
    for bound, task in bounded:
        if len(newest) == len(wanted) and min(newest.values()) >= min(bound, until):
            break  # no file left can hold a newer trade for any exchange
        arrow = arrow_from_tasks(data_scan, data_scan.projection(), [task])
        read += 1
        for exchange, timestamp in _newest_per_exchange(arrow).items():
            if exchange in wanted and timestamp > newest.get(wanted[exchange], EPOCH):
                newest[wanted[exchange]] = timestamp
    return NewestTrades(newest, len(bounded), read)


def _newest_per_exchange(arrow: pa.Table) -> dict[str, datetime]:
    if arrow.num_rows == 0:
        return {}
    grouped = arrow.group_by("exchange").aggregate([(TIME_COLUMN, "max")])
    times = pc.cast(grouped[f"{TIME_COLUMN}_max"], pa.timestamp("us", tz="UTC")).to_pylist()
    return dict(zip(grouped["exchange"].to_pylist(), times, strict=True))


def emit_ages(ages: Mapping[Exchange, float], at: datetime) -> None:
    """One EMF document per exchange, stamped with the instant the ages were measured at."""
    for exchange, age in ages.items():
        metrics = emf_metrics(FRESHNESS_SERVICE, exchange=exchange.value)
        metrics.set_timestamp(at)
        metrics.add_metric(name=GOLD_TRADE_AGE.name, unit=MetricUnit.Seconds, value=age)
        metrics.flush_metrics()


def check_freshness(
    settings: K2Settings,
    freshness: FreshnessSettings | None = None,
    now: datetime | None = None,
) -> dict[Exchange, float]:
    """Measure and emit ``GoldTradeAge`` as of ``now`` (default: the wall clock); returns the
    ages emitted."""
    freshness = freshness or FreshnessSettings()
    at = now or datetime.now(UTC)
    table = glue_catalog(settings).load_table(
        gold_trades_table().identifier(settings.glue_database)
    )
    since = at - timedelta(hours=freshness.lookback_hours)
    newest = newest_trade_times(table, freshness.exchanges, since, at)
    ages = trade_ages(newest.times, at)
    emit_ages(ages, at)
    log.info("read %d of %d candidate files", newest.files_read, newest.files_planned)
    missing = [e.value for e in freshness.exchanges if e not in ages]
    if missing:
        log.warning(
            "no gold trade within %gh for %s: no datapoint (the alarm counts that as breaching)",
            freshness.lookback_hours,
            ", ".join(missing),
        )
    return ages


def handler(event: Mapping[str, Any], context: object) -> dict[str, float]:
    """The scheduled Lambda's entry point (settings from its environment)."""
    return {e.value: age for e, age in check_freshness(K2Settings()).items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Emit GoldTradeAge per exchange.")
    parser.add_argument(
        "--exchange",
        action="append",
        type=Exchange,
        help="repeatable; default: K2_FRESHNESS_EXCHANGES, else every exchange",
    )
    parser.add_argument("--every", type=float, help="run every this many seconds until stopped")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = K2Settings()
    freshness = FreshnessSettings()
    if args.exchange:
        freshness = freshness.model_copy(update={"exchanges": tuple(args.exchange)})
    if args.every is None:
        _report(check_freshness(settings, freshness))
        return
    while True:  # like the scheduled Lambda: one failed check does not stop the next
        try:
            _report(check_freshness(settings, freshness))
        except Exception:
            log.exception("freshness check failed; next one in %g s", args.every)
        time.sleep(args.every)


def _report(ages: Mapping[Exchange, float]) -> None:
    log.info("GoldTradeAge %s", {e.value: round(age, 1) for e, age in ages.items()})


if __name__ == "__main__":
    main()
