"""The freshness check over a real gold table (written by Spark, as the gold job writes it): the
age it emits is "the instant asked about minus the newest trade written up to then", the one
deleted by a merge-on-read commit excluded, computed here from the rows this test wrote."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from k2.domain.ids import trade_message_id
from k2.domain.markets import Exchange
from k2.jobs.freshness import (
    FreshnessSettings,
    check_freshness,
    newest_trade_times,
    trade_ages,
)
from k2.lake.catalog import glue_catalog
from k2.lake.lake_init import init_lake
from k2.lake.tables import gold_trades_table
from k2.local.cloud import LocalCloud
from k2.monitoring import metrics as m
from k2.settings import K2Settings
from tests.observability.metrics_testkit import shipped_documents, statistics

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DATABASE = "k2_freshness_test"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
"""The lake's "now", an hour back: the datapoints this module stamps at NOW + up to 7 minutes
stay in the past, out of the window of any alarm another test provokes."""
"""The test's reference instant: trades are written before it, the check asked about around it
(close to the wall clock, as CloudWatch takes datapoints up to two weeks old)."""


@dataclass(frozen=True)
class Trade:
    exchange: Exchange
    symbol: str
    trade_id: int
    at: datetime


def batch(
    rng: random.Random,
    exchange: Exchange,
    symbol: str,
    first_id: int,
    start: datetime,
    end: datetime,
) -> list[Trade]:
    span_us = int((end - start) / timedelta(microseconds=1))
    times = sorted(start + timedelta(microseconds=rng.randrange(span_us)) for _ in range(40))
    return [Trade(exchange, symbol, first_id + i, at) for i, at in enumerate(times)]


@dataclass
class StalledLake:
    """Gold as a pipeline that stopped left it: the newest trades minutes before NOW."""

    settings: K2Settings
    trades: list[Trade]

    def newest(self, until: datetime, since: datetime | None = None) -> dict[Exchange, datetime]:
        newest: dict[Exchange, datetime] = {}
        for trade in self.trades:
            if trade.at <= until and (since is None or trade.at >= since):
                newest[trade.exchange] = max(trade.at, newest.get(trade.exchange, trade.at))
        return newest


def _append(spark: SparkSession, trades: list[Trade]) -> None:
    identifier = gold_trades_table().spark_identifier(DATABASE)
    schema = spark.table(identifier).schema
    rows = []
    for t in trades:
        row: dict[str, Any] = {
            "message_id": trade_message_id(t.exchange, t.symbol, t.trade_id),
            "exchange": t.exchange.value,
            "symbol": t.symbol,
            "exchange_symbol": t.symbol,
            "base_asset": "BTC",
            "quote_asset": t.symbol[3:],
            "trade_id": t.trade_id,
            "timestamp": t.at,
            "price": Decimal("50000.5"),
            "quantity": Decimal("0.25"),
            "side": "BUY",
            "ingestion_timestamp": t.at,
            "gold_updated_at": t.at,
        }
        rows.append(tuple(row[f.name] for f in schema))
    spark.createDataFrame(rows, schema).writeTo(identifier).append()


@pytest.fixture(scope="module")
def lake(spark: SparkSession, k2_settings: K2Settings) -> Iterator[StalledLake]:
    settings = k2_settings.model_copy(update={"glue_database": DATABASE})
    init_lake(glue_catalog(settings), DATABASE, [gold_trades_table()])
    rng = random.Random(8)
    hour = timedelta(hours=1)
    batches = [
        batch(rng, Exchange.BINANCE, "BTCUSDT", 1_000, NOW - 5 * hour, NOW - 4 * hour),
        batch(rng, Exchange.BINANCE, "BTCUSDT", 2_000, NOW - 2 * hour, NOW - hour),
        batch(rng, Exchange.KRAKEN, "BTCUSD", 500, NOW - 3 * hour, NOW - 40 * timedelta(minutes=1)),
        batch(rng, Exchange.BINANCE, "BTCUSDT", 3_000, NOW - hour / 2, NOW - hour / 6),
    ]
    for trades in batches:
        _append(spark, trades)
    # A merge-on-read delete of binance's newest trade: the check must not see it.
    newest = max((t for t in batches[-1]), key=lambda t: t.at)
    spark.sql(
        f"DELETE FROM {gold_trades_table().spark_identifier(DATABASE)} "
        f"WHERE exchange = 'binance' AND trade_id = {newest.trade_id}"
    )
    kept = [t for trades in batches for t in trades if t != newest]
    yield StalledLake(settings, kept)


@pytest.mark.unit
def test_age_is_now_minus_the_newest_trade_and_never_negative() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    newest = {
        Exchange.BINANCE: now - timedelta(seconds=42, microseconds=500_000),
        Exchange.KRAKEN: now + timedelta(seconds=3),  # stamped ahead of this clock
    }
    assert trade_ages(newest, now) == {Exchange.BINANCE: 42.5, Exchange.KRAKEN: 0.0}
    assert trade_ages({}, now) == {}


@pytest.mark.integration
@pytest.mark.parametrize(
    "after_now",
    [timedelta(seconds=30), timedelta(minutes=10), -timedelta(minutes=45), -timedelta(hours=3)],
    ids=["30s-after", "10min-after", "45min-before", "3h-before"],
)
def test_newest_trade_per_exchange_as_of_an_instant(
    lake: StalledLake, after_now: timedelta
) -> None:
    at = NOW + after_now
    table = glue_catalog(lake.settings).load_table(gold_trades_table().identifier(DATABASE))

    found = newest_trade_times(table, tuple(Exchange), at - timedelta(hours=6), at)

    assert found.times == lake.newest(until=at, since=at - timedelta(hours=6))
    assert trade_ages(found.times, at) == {
        exchange: (at - newest).total_seconds() for exchange, newest in found.times.items()
    }


@pytest.mark.integration
def test_the_scan_stops_once_no_file_can_hold_a_newer_trade(lake: StalledLake) -> None:
    at = NOW + timedelta(seconds=30)
    table = glue_catalog(lake.settings).load_table(gold_trades_table().identifier(DATABASE))

    found = newest_trade_times(table, tuple(Exchange), at - timedelta(hours=6), at)

    assert set(found.times) == set(Exchange)
    assert found.files_planned >= 4  # one append per batch
    assert found.files_read < found.files_planned  # binance's two older batches are skipped


@pytest.mark.integration
def test_the_check_emits_gold_trade_age_per_exchange_as_catalogued(
    lake: StalledLake, local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = f"/k2/test/freshness-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("K2_METRICS_LOG_GROUP", group)
    instants = [NOW + timedelta(seconds=20), NOW + timedelta(minutes=7)]

    emitted = [check_freshness(lake.settings, now=at) for at in instants]

    documents = shipped_documents(local_cloud, group, expected=2 * len(Exchange))
    spec = m.GOLD_TRADE_AGE
    got: dict[tuple[int, Exchange], float] = {}
    for document in documents:
        (directive,) = document["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == spec.namespace.value
        assert [sorted(names) for names in directive["Dimensions"]] == [
            sorted(spec.dimension_names)
        ]
        assert directive["Metrics"] == [{"Name": spec.name, "Unit": spec.unit.value}]
        assert document["service"] == m.FRESHNESS_SERVICE
        (got[(document["_aws"]["Timestamp"], Exchange(document["exchange"]))],) = document[
            spec.name
        ]
    expected = {
        (int(at.timestamp() * 1000), exchange): (at - newest).total_seconds()
        for at in instants
        for exchange, newest in lake.newest(until=at).items()
    }
    assert got == pytest.approx(expected)
    for at, ages in zip(instants, emitted, strict=True):  # what it returns is what it emitted
        stamp = int(at.timestamp() * 1000)
        assert ages == {exchange: got[(stamp, exchange)] for exchange in ages}
        # The local CloudWatch holds each as a datapoint at the instant it was measured for.
        for exchange, age in ages.items():
            dimensions = {"service": m.FRESHNESS_SERVICE, "exchange": exchange.value}
            point = statistics(local_cloud, spec, dimensions, at, at + timedelta(seconds=1))
            assert (point.samples, point.maximum) == (1, age)
            assert point.units == {spec.unit.value}


@pytest.mark.integration
def test_an_exchange_without_a_trade_in_the_lookback_gets_no_datapoint(
    lake: StalledLake, local_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = f"/k2/test/freshness-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("K2_METRICS_LOG_GROUP", group)
    at = NOW + timedelta(minutes=1)
    half_hour = FreshnessSettings(lookback_hours=0.5)  # kraken's newest is 40 minutes old

    ages = check_freshness(lake.settings, half_hour, now=at)

    binance_newest = lake.newest(until=at)[Exchange.BINANCE]
    assert ages == {Exchange.BINANCE: (at - binance_newest).total_seconds()}
    documents = shipped_documents(local_cloud, group, expected=1)
    assert [d["exchange"] for d in documents] == ["binance"]
