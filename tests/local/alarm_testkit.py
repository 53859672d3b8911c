"""Platform alarms put under an environment of their own, watched until they change state, and
the real emitters that provoke them: feed handlers (``run_feed``) against an exchange simulator
of their own, and a local API Gateway process in front of a test Lambda handler.

Alarms keep the platform's definitions (``k2.monitoring.alarms`` through
:func:`~k2.local.monitoring_provisioning.alarm_request`) with every period shortened to
:data:`PERIOD_S`, so they fire in seconds. They are named ``k2-<environment>-<suffix>`` for an
environment no other test uses: the session's own alarms keep their definitions, and metrics
dimensioned by a deployment name (API name, job failure rule) hold only what the test made.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from k2.deployment.config import AlarmThresholds
from k2.domain.markets import Exchange
from k2.feeds.feed_handler import FeedCounters
from k2.feeds.feed_service import run_feed
from k2.feeds.feed_settings import FeedSettings
from k2.local.cloud import LocalCloud
from k2.local.exchange_simulator import ExchangeSimulator, SimulatorConfig
from k2.local.monitoring_provisioning import alarm_request
from k2.local.monitoring_resources import local_deployment, local_resources
from k2.local.processes import wait_until
from k2.monitoring import metrics as m
from k2.monitoring.alarms import AlarmSpec, platform_alarms
from k2.monitoring.queries import MetricQuery, Statistic
from k2.settings import K2Settings
from tests.local.gateway_process import free_port, start_gateway_process, stop_gateway_process

PERIOD_S = 10
"""Every alarm's period here (the deployed ones are 1, 5 or 60 minutes)."""
POLL_S = 0.5


def unique_environment() -> str:
    """A deployment environment name of this test's own (DeploymentConfig's rules)."""
    return f"af{uuid.uuid4().hex[:10]}"


class AlarmBoard:
    """Puts platform alarms for one environment, waits for their states, deletes them."""

    def __init__(self, cloudwatch: Any, settings: K2Settings) -> None:
        self.cloudwatch = cloudwatch
        self.settings = settings
        self.names: list[str] = []

    def spec(self, suffix: str, thresholds: AlarmThresholds) -> AlarmSpec:
        config = local_deployment(self.settings)
        [spec] = [
            s for s in platform_alarms(thresholds, config.exchanges) if s.name_suffix == suffix
        ]
        return spec

    def put(self, suffix: str, thresholds: AlarmThresholds | None = None) -> str:
        """Put the platform alarm ``k2-<environment>-<suffix>`` with :data:`PERIOD_S` periods;
        returns its name."""
        spec = self.spec(suffix, thresholds or AlarmThresholds())
        name = local_deployment(self.settings).resource_name(suffix)
        request = alarm_request(spec, local_resources(self.settings), name, period_s=PERIOD_S)
        self.cloudwatch.put_metric_alarm(**request)
        self.names.append(name)
        return name

    def describe(self, name: str) -> dict[str, Any]:
        [alarm] = self.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        return dict(alarm)

    def wait_for(
        self,
        names: list[str],
        state: str,
        *,
        deadline_s: float,
        keep_up: Callable[[], None] = lambda: None,
    ) -> dict[str, dict[str, Any]]:
        """Call ``keep_up`` (the condition, kept up as a real one would be) and poll until every
        alarm of ``names`` is in ``state``; the alarms as DescribeAlarms returns them."""
        deadline = time.monotonic() + deadline_s
        while True:
            keep_up()
            alarms = {name: self.describe(name) for name in names}
            if all(alarm["StateValue"] == state for alarm in alarms.values()):
                return alarms
            if time.monotonic() > deadline:
                states = {n: (a["StateValue"], a["StateReason"]) for n, a in alarms.items()}
                raise AssertionError(f"not all {state} within {deadline_s:.0f} s: {states}")
            time.sleep(POLL_S)

    def delete_all(self) -> None:
        if self.names:
            self.cloudwatch.delete_alarms(AlarmNames=self.names)
            self.names.clear()


def reason_data(alarm: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(alarm["StateReasonData"])
    return data


# -- feed handlers against a simulator of their own ---------------------------------------------


class FeedRig:
    """An exchange simulator and both feed handlers, each run as ``k2 feed`` runs it
    (:func:`run_feed`: the handler, its metrics reporter and liveness file), on an event loop
    thread of their own; faults go through the simulator's control endpoint, as in the demo.

    Every handler flushes its metrics each ``metrics_interval_s``; ``feed_overrides`` are
    further :class:`FeedSettings` fields. Counters are read after the rig is left.
    """

    def __init__(
        self,
        settings: K2Settings,
        config: SimulatorConfig,
        liveness_dir: Path,
        **feed_overrides: Any,
    ) -> None:
        self._settings = settings
        self._config = config
        self._liveness_dir = liveness_dir
        self._overrides = feed_overrides
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="feed-rig")
        self._stop: asyncio.Event | None = None
        self._runs: dict[Exchange, asyncio.Task[FeedCounters]] = {}
        self.simulator = ExchangeSimulator(config)
        self.started_at = datetime.now(UTC)
        self.counters: dict[Exchange, FeedCounters] = {}

    def __enter__(self) -> FeedRig:
        self.started_at = datetime.now(UTC)
        self._thread.start()
        try:
            self._call(self._start())
        except BaseException:
            self._close_loop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._call(self._finish(), timeout=60.0)
        finally:
            self._close_loop()

    def _call(self, coroutine: Any, timeout: float = 30.0) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()

    async def _start(self) -> None:
        await self.simulator.start()
        self._stop = asyncio.Event()
        sim = self.simulator
        for exchange in Exchange:
            feed = FeedSettings(
                exchange=exchange,
                binance_ws_url=f"ws://127.0.0.1:{sim.binance_port}",
                binance_rest_url=sim.binance_rest_url,
                kraken_ws_url=sim.kraken_ws_url,
                kraken_rest_url=sim.kraken_rest_url,
                binance_symbols=self._config.binance_symbols,
                kraken_symbols=self._config.kraken_symbols,
                liveness_file=self._liveness_dir / f"{exchange.value}.liveness",
                **self._overrides,
            )
            self._runs[exchange] = asyncio.create_task(run_feed(feed, self._settings, self._stop))

    async def _finish(self) -> None:
        self.simulator.clear_faults()
        if self._stop is not None:
            self._stop.set()
        try:
            for exchange, run in self._runs.items():
                self.counters[exchange] = await run
        finally:
            await self.simulator.stop()

    def wait_trading(self, cloudwatch: Any, deadline_s: float = 60.0) -> None:
        """Until every handler has reported published trades (TradesPublished, read back from
        CloudWatch) since the rig started: a fault injected before a handler trades would be
        no fault for it (its first trade sets its sequence)."""

        def trading() -> bool:
            self.check()
            return all(
                published_since(cloudwatch, exchange, self.started_at) > 0 for exchange in Exchange
            )

        assert wait_until(trading, deadline_s, interval=POLL_S), "the handlers did not trade"

    def check(self) -> None:
        """Raise the error of a handler that stopped on its own."""
        for run in self._runs.values():
            if run.done():
                run.result()
                raise AssertionError("a feed handler stopped on its own")

    def fault(self, **request: object) -> dict[str, Any]:
        """``POST /control/fault`` on the simulator's control endpoint."""
        url = self.simulator.control_url
        assert url is not None
        http_request = urllib.request.Request(  # noqa: S310 - the simulator on loopback
            f"{url}/control/fault",
            data=json.dumps(request).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(http_request, timeout=10) as response:  # noqa: S310
            answer: dict[str, Any] = json.load(response)
        assert answer["ok"], answer
        return answer

    def simulator_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self._call(_stats(self.simulator))
        return stats


def sum_since(
    cloudwatch: Any, spec: m.MetricSpec, dimensions: dict[str, str], since: datetime
) -> float:
    """The metric's sum from the first whole second after ``since`` to now (an emitter that
    stopped just before ``since`` may have sent data stamped in the same second)."""
    answer = cloudwatch.get_metric_statistics(
        Namespace=spec.namespace.value,
        MetricName=spec.name,
        Dimensions=[{"Name": name, "Value": value} for name, value in dimensions.items()],
        StartTime=since.replace(microsecond=0) + timedelta(seconds=1),
        EndTime=datetime.now(UTC) + timedelta(seconds=1),
        Period=1,
        Statistics=["Sum"],
    )
    return float(sum(point["Sum"] for point in answer["Datapoints"]))


def published_since(cloudwatch: Any, exchange: Exchange, since: datetime) -> float:
    """Trades the exchange's feed handler reported published since ``since``."""
    query = MetricQuery(m.TRADES_PUBLISHED, Statistic.SUM, values=(("exchange", exchange.value),))
    return sum_since(cloudwatch, m.TRADES_PUBLISHED, query.dimensions({}), since)


async def _stats(simulator: ExchangeSimulator) -> dict[str, Any]:
    return simulator.stats()


# -- a local API Gateway process in front of a test handler --------------------------------------

SLOW_S = 0.5
"""How long the test handler takes on ``/slow``."""
TEST_HANDLER = f"""
import time


def handler(event, context):
    path = event["path"]
    if path == "/boom":
        raise RuntimeError("failed on purpose")
    if path == "/slow":
        time.sleep({SLOW_S})
    return {{"statusCode": 200, "headers": {{}}, "body": "{{}}"}}
"""
API_KEY = "alarms-fire-" + "k" * 30
USAGE_PLANS = {
    "keys": [{"id": "alarmsfire", "name": "alarms", "value": API_KEY, "plan": "open"}],
    "plans": {"open": {"rate_limit": 1000, "burst_limit": 1000, "quota": None}},
}


@contextmanager
def running_gateway(cloud: LocalCloud, environment: str, workdir: Path) -> Iterator[int]:
    """``python -m k2.local.api_gateway`` for ``environment`` (its metrics carry that
    deployment's API and function names) in front of :data:`TEST_HANDLER`; yields its port."""
    (workdir / "alarm_handler.py").write_text(TEST_HANDLER)
    (workdir / "plans.json").write_text(json.dumps(USAGE_PLANS))
    port = free_port()
    env = {**os.environ, **cloud.layout.client_environment(), "K2_ENVIRONMENT": environment}
    process = start_gateway_process(
        port,
        f"{workdir / 'alarm_handler.py'}:handler",
        workdir / "plans.json",
        workdir / "gateway.log",
        env=env,
    )
    try:
        yield port
    finally:
        stop_gateway_process(process)


def call_api(port: int, path: str) -> int:
    """One GET through the gateway with the test key; the status it answered."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"X-API-Key": API_KEY}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            response.read()
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        error.read()
        return error.code


def normal_traffic(cloudwatch: Any, port: int, settings: K2Settings) -> list[int]:
    """Quick requests until the gateway's metrics of them reached CloudWatch (it sends them
    every few seconds); the statuses answered."""
    since = datetime.now(UTC)
    query = MetricQuery(m.GATEWAY_COUNT, Statistic.SUM)
    dimensions = query.dimensions(local_resources(settings))
    answered: list[int] = []

    def counted() -> bool:
        answered.append(call_api(port, "/ok"))
        return sum_since(cloudwatch, m.GATEWAY_COUNT, dimensions, since) > 0

    assert wait_until(counted, 30, interval=POLL_S), "the gateway's metrics did not arrive"
    return answered
