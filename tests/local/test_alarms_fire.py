"""Each platform alarm is OK in normal operation and fires on the condition it exists for,
provoked through the real component.

Every alarm is the platform's definition with 10 s periods (:mod:`tests.local.alarm_testkit`),
named for an environment of this module's own, so the session's alarms keep their definitions and
metrics named by deployment (the API's, the job failure rule's) hold only this module's data. The
local endpoint's background evaluator decides their states (every second in the test cloud).

Each test puts its alarm once the component runs normally and checks that the datapoints of
normal operation make it OK; then it provokes the fault, keeps it up and polls until ALARM, whose
StateReasonData holds the breaching datapoints. Feed and freshness metrics (namespace ``K2``) have
no environment dimension, so data other tests left in them reaches these alarms too; but an alarm
reads at most its last 50 s, these emitters report every second, and what is checked is the
latest periods, which are the test's own.

Thresholds are the deployment's defaults (``AlarmThresholds()``) except freshness (30 s, the
least allowed: the default 300 s needs a five-minute stall) and API p99 (250 ms, so a request of
half a second is slow: the default 10 s would need requests that long).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from k2.aws import aws_client
from k2.deployment.config import AlarmThresholds
from k2.domain.ids import trade_message_id
from k2.domain.markets import Exchange
from k2.jobs.freshness import check_freshness
from k2.jobs.ohlcv import run_ohlcv
from k2.lake.catalog import glue_catalog
from k2.lake.lake_init import init_lake
from k2.lake.tables import gold_trades_table
from k2.local.cloud import LocalCloud
from k2.local.exchange_simulator import SimulatorConfig
from k2.local.job_failure_events import reporting_failure
from k2.local.processes import wait_until
from k2.observability.emf import flush_shipped_metrics
from k2.settings import K2Settings
from tests.local.alarm_testkit import (
    SLOW_S,
    AlarmBoard,
    FeedRig,
    call_api,
    normal_traffic,
    reason_data,
    running_gateway,
    unique_environment,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration

DEFAULTS = AlarmThresholds()
SYMBOLS = {Exchange.BINANCE: "ADAUSDT", Exchange.KRAKEN: "ADA/USD"}
"""Markets no other test's feed publishes."""


@pytest.fixture(scope="module")
def environment() -> str:
    return unique_environment()


@pytest.fixture
def board(k2_settings: K2Settings, environment: str) -> Iterator[AlarmBoard]:
    settings = k2_settings.model_copy(update={"environment": environment})
    alarms = AlarmBoard(aws_client("cloudwatch", settings), settings)
    yield alarms
    alarms.delete_all()


def assert_ok_by(alarm: dict[str, Any], threshold: float) -> list[float]:
    """The alarm is OK and its reason names the threshold; returns the real datapoints of
    normal operation that decided it (the test checks their values)."""
    assert alarm["StateValue"] == "OK"
    assert f"the threshold ({float(threshold)!r})" in alarm["StateReason"], alarm["StateReason"]
    values: list[float] = reason_data(alarm)["recentDatapoints"]
    assert values, alarm["StateReason"]
    return values


def assert_fired_by(alarm: dict[str, Any], threshold: float) -> list[float]:
    """The alarm's reason names the threshold; returns the real datapoints it evaluated (at
    least DatapointsToAlarm of them: it did not fire on missing data alone)."""
    assert f"the threshold ({float(threshold)!r})" in alarm["StateReason"], alarm["StateReason"]
    values: list[float] = reason_data(alarm)["recentDatapoints"]
    assert len(values) >= alarm["DatapointsToAlarm"], alarm["StateReason"]
    return values


def simulator(**overrides: Any) -> SimulatorConfig:
    return SimulatorConfig(
        seed=8,
        rate=50,
        binance_symbols=(SYMBOLS[Exchange.BINANCE],),
        kraken_symbols=(SYMBOLS[Exchange.KRAKEN],),
        **overrides,
    )


FEED = {"metrics_interval_s": 1.0, "resume_from_kafka": False}
"""Every feed handler here flushes its metrics each second and starts afresh."""


@pytest.fixture(autouse=True)
def quiet_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    """EMF documents made here are shipped to the local CloudWatch, not printed too."""
    monkeypatch.setenv("K2_METRICS_STDOUT", "false")


# -- freshness ------------------------------------------------------------------------------------

FRESHNESS = AlarmThresholds(freshness_seconds=30)
GOLD_DATABASE = "k2_alarms_fire"
NEWEST_BEFORE_WRITE = timedelta(seconds=10)
FRESH_S = 15.0
"""Gold counts as just written when its newest trade is at most this old once the append is
done. The check then reports fresh ages for over a period before they pass 30 s, so real
datapoints, not missing ones, decide the alarm's turn to ALARM (and the newest trade is old
enough already that the wait for 30 s is short)."""


class GoldWriter:
    """Appends trades to a real gold table with Spark (the gold job's table definition)."""

    def __init__(self, spark: SparkSession, settings: K2Settings) -> None:
        init_lake(glue_catalog(settings), settings.glue_database, [gold_trades_table()])
        self.spark = spark
        self.identifier = gold_trades_table().spark_identifier(settings.glue_database)
        self.schema = spark.table(self.identifier).schema
        self.rng = random.Random(8)
        self.next_id = 1

    def append(self, newest: datetime) -> None:
        """Ten trades per exchange in the minute up to ``newest``, and one at ``newest``."""
        rows = []
        for exchange, symbol in SYMBOLS.items():
            times = [newest - timedelta(seconds=self.rng.uniform(0.5, 60)) for _ in range(10)]
            for trade_id, at in enumerate([*sorted(times), newest], start=self.next_id):
                row: dict[str, Any] = {
                    "message_id": trade_message_id(exchange, symbol, trade_id),
                    "exchange": exchange.value,
                    "symbol": symbol.replace("/", ""),
                    "exchange_symbol": symbol,
                    "base_asset": "ADA",
                    "quote_asset": symbol.replace("/", "")[3:],
                    "trade_id": trade_id,
                    "timestamp": at,
                    "price": Decimal("0.4123"),
                    "quantity": Decimal("100.5"),
                    "side": "BUY",
                    "ingestion_timestamp": at,
                    "gold_updated_at": at,
                }
                rows.append(tuple(row[field.name] for field in self.schema))
        self.next_id += 11
        self.spark.createDataFrame(rows, self.schema).writeTo(self.identifier).append()


def test_freshness_fires_when_no_newer_trade_reaches_gold(
    spark: SparkSession, k2_settings: K2Settings, board: AlarmBoard
) -> None:
    """Gold gets trades, then the feeds stall: its newest trade stays where it is while the
    freshness check keeps running (``check_freshness`` at the wall clock, as scheduled)."""
    settings = k2_settings.model_copy(update={"glue_database": GOLD_DATABASE})
    gold = GoldWriter(spark, settings)
    for _ in range(4):  # the first append also pays for Spark's first write
        newest = datetime.now(UTC) - NEWEST_BEFORE_WRITE
        gold.append(newest)
        if (datetime.now(UTC) - newest).total_seconds() <= FRESH_S:
            break
    else:
        pytest.fail(f"no append of gold finished within {FRESH_S} s of its newest trade")
    measured: list[float] = []

    def check() -> None:
        at = datetime.now(UTC)
        ages = check_freshness(settings, now=at)
        assert flush_shipped_metrics()
        age = (at - newest).total_seconds()
        assert ages == pytest.approx(dict.fromkeys(Exchange, age))
        measured.append(age)

    check()
    names = [board.put(f"freshness-{exchange.value}", FRESHNESS) for exchange in Exchange]
    ok = board.wait_for(names, "OK", deadline_s=10, keep_up=check)
    for alarm in ok.values():  # the latest period is this test's check's own
        assert assert_ok_by(alarm, FRESHNESS.freshness_seconds)[-1] <= FRESHNESS.freshness_seconds

    fired = board.wait_for(names, "ALARM", deadline_s=90, keep_up=check)
    for alarm in fired.values():
        values = assert_fired_by(alarm, FRESHNESS.freshness_seconds)
        assert len(values) == alarm["EvaluationPeriods"]  # none filled in for missing data
        assert all(FRESHNESS.freshness_seconds < value <= measured[-1] for value in values)


# -- feed handlers: no data, dead letters, unfilled gaps ------------------------------------------

STALL_S = 120.0
"""Longer than the test: the stall lasts until the simulator is stopped."""


def test_no_data_fires_when_the_exchanges_stall(
    k2_settings: K2Settings, board: AlarmBoard, tmp_path: Path
) -> None:
    """Both exchanges go silent with their sockets open (the simulator's stall fault); the
    handlers keep reporting TradesPublished 0. Their stale-connection timeout is set beyond
    the stall here: with 10 s periods the alarm needs 30 s of silence, Binance's default
    timeout is 30 s, and the simulator only stalls connections already open."""
    with FeedRig(k2_settings, simulator(), tmp_path, stale_after_s=2 * STALL_S, **FEED) as rig:
        rig.wait_trading(board.cloudwatch)
        names = [board.put(f"no-data-{exchange.value}") for exchange in Exchange]
        ok = board.wait_for(names, "OK", deadline_s=30, keep_up=rig.check)
        for alarm in ok.values():  # the latest period is this test's handlers' own
            assert assert_ok_by(alarm, 1)[-1] >= 1
        rig.fault(fault="stall", exchange="all", duration=STALL_S)
        fired = board.wait_for(names, "ALARM", deadline_s=90, keep_up=rig.check)
    for alarm in fired.values():
        assert assert_fired_by(alarm, 1) == [0.0, 0.0, 0.0]  # reported zeros, not silence
    assert all(counters.trades_published > 0 for counters in rig.counters.values())


MALFORMED = DEFAULTS.dlq_records_per_5min + 50


def test_dlq_rate_fires_on_malformed_frames(
    k2_settings: K2Settings, board: AlarmBoard, tmp_path: Path
) -> None:
    """The simulated Binance sends frames no parser accepts; the handler dead-letters each."""
    with FeedRig(k2_settings, simulator(), tmp_path, **FEED) as rig:
        rig.wait_trading(board.cloudwatch)
        name = board.put("dlq-rate")
        ok = board.wait_for([name], "OK", deadline_s=30, keep_up=rig.check)
        assert assert_ok_by(ok[name], DEFAULTS.dlq_records_per_5min) == [0.0]
        rig.fault(fault="malformed", exchange="binance", count=MALFORMED)
        fired = board.wait_for([name], "ALARM", deadline_s=60, keep_up=rig.check)
        # The alarm may fire before the last of them is sent; the counts compare all of them.
        assert wait_until(
            lambda: rig.simulator_stats()["malformed_frames"]["binance"] == MALFORMED, 30
        )
    [value] = assert_fired_by(fired[name], DEFAULTS.dlq_records_per_5min)
    assert DEFAULTS.dlq_records_per_5min <= value <= MALFORMED
    assert rig.counters[Exchange.BINANCE].dead_letters == MALFORMED
    assert rig.counters[Exchange.KRAKEN].dead_letters == 0


HISTORY = 10
"""Trades per symbol the simulator's REST serves (it keeps between this and twice this)."""
SKIPPED = 100


def test_gaps_fire_on_a_gap_older_than_the_rest_history(
    k2_settings: K2Settings, board: AlarmBoard, tmp_path: Path
) -> None:
    """Binance withholds a run of trade ids from the WebSocket (the skip fault) longer than the
    REST history it keeps: the handler backfills what REST still serves and records the rest
    as unfilled."""
    with FeedRig(
        k2_settings,
        simulator(history_size=HISTORY),
        tmp_path,
        backfill_attempts=2,
        backfill_retry_delay_s=0.1,
        **FEED,
    ) as rig:
        rig.wait_trading(board.cloudwatch)
        name = board.put("gaps-binance")
        ok = board.wait_for([name], "OK", deadline_s=30, keep_up=rig.check)
        assert assert_ok_by(ok[name], DEFAULTS.gaps_per_hour) == [0.0]
        rig.fault(fault="skip", exchange="binance", count=SKIPPED)
        fired = board.wait_for([name], "ALARM", deadline_s=60, keep_up=rig.check)
        skipped = rig.simulator_stats()["skipped_trades"]["binance"]
    [value] = assert_fired_by(fired[name], DEFAULTS.gaps_per_hour)
    # Ids REST no longer serves: at least those older than its history, at most the gap.
    assert skipped == SKIPPED
    assert SKIPPED - 2 * HISTORY <= value <= SKIPPED
    binance = rig.counters[Exchange.BINANCE]
    assert binance.gaps_detected >= 1
    assert SKIPPED - 2 * HISTORY <= binance.unfilled_trade_ids <= SKIPPED


# -- a Spark job run that fails -------------------------------------------------------------------


def test_spark_job_failed_fires_on_a_failed_job_run(spark: SparkSession, board: AlarmBoard) -> None:
    """A real OHLCV run whose Glue database does not exist, run as the local job runners run
    jobs (``reporting_failure``, EventBridge's count of a failed run)."""
    name = board.put("spark-job-failed")
    ok = board.wait_for([name], "OK", deadline_s=30)
    assert reason_data(ok[name])["recentDatapoints"] == []  # no failed run, nothing counted
    missing = board.settings.model_copy(update={"glue_database": "k2_no_such_database"})

    with (
        pytest.raises(Exception, match="k2_no_such_database"),
        reporting_failure(board.settings, "ohlcv"),
    ):
        run_ohlcv(spark, missing)

    fired = board.wait_for([name], "ALARM", deadline_s=30)
    assert assert_fired_by(fired[name], 1) == [1.0]


# -- the API at the gateway -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(
    local_cloud: LocalCloud, environment: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    with running_gateway(local_cloud, environment, tmp_path_factory.mktemp("gateway")) as port:
        yield port


def test_api_5xx_fires_on_failing_requests(gateway: int, board: AlarmBoard) -> None:
    """The function raises on every request: the gateway answers 502."""
    answered = normal_traffic(board.cloudwatch, gateway, board.settings)
    name = board.put("api-5xx")
    ok = board.wait_for(
        [name], "OK", deadline_s=30, keep_up=lambda: answered.append(call_api(gateway, "/ok"))
    )
    assert set(answered) == {200}
    assert set(assert_ok_by(ok[name], DEFAULTS.api_5xx_per_5min)) == {0.0}

    failed: list[int] = []
    fired = board.wait_for(
        [name], "ALARM", deadline_s=60, keep_up=lambda: failed.append(call_api(gateway, "/boom"))
    )
    assert set(failed) == {502}
    [value] = assert_fired_by(fired[name], DEFAULTS.api_5xx_per_5min)
    assert DEFAULTS.api_5xx_per_5min <= value <= len(failed)


P99 = AlarmThresholds(api_p99_ms=250)


def test_api_p99_fires_on_slow_requests(gateway: int, board: AlarmBoard) -> None:
    """Quick requests first, then every request takes the function half a second."""
    answered = normal_traffic(board.cloudwatch, gateway, board.settings)
    name = board.put("api-p99", P99)
    ok = board.wait_for(
        [name], "OK", deadline_s=30, keep_up=lambda: answered.append(call_api(gateway, "/ok"))
    )
    assert all(value <= P99.api_p99_ms for value in assert_ok_by(ok[name], P99.api_p99_ms))

    fired = board.wait_for(
        [name], "ALARM", deadline_s=60, keep_up=lambda: answered.append(call_api(gateway, "/slow"))
    )
    assert set(answered) == {200}
    values = assert_fired_by(fired[name], P99.api_p99_ms)
    assert sum(value > P99.api_p99_ms for value in values) >= 2
    assert max(values) >= SLOW_S * 1000
