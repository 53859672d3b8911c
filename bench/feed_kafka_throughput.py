"""The feed handler end to end into Kafka (acks=all): max frames/s, and exchange-to-ack lag.

    .venv/bin/python -m bench.feed_kafka_throughput [--exchange binance] [--duration 10]
        [--warmup 2] [--rates 100,1000,10000] [--simulator in-process|subprocess]
        [--baseline-records 100000]

Needs `k2 local up` (its settings come from ``LocalCloud().layout``, so export the same
``K2_LOCAL_*`` variables the cloud was started with). Per exchange and simulator rate, a fresh
exchange simulator (ports 0; ``rate`` = trades per second per exchange, 0 = as fast as the
client drains) feeds the real handler (``feed_service.build_handler``, ``handler.run``). After
``--warmup`` seconds (connection, Kraken's 50-trade snapshot) the counters and the lag samples are
reset and the handler is measured for ``--duration`` seconds:

* frames/s, records published/s and records acknowledged/s over the window;
* p50/p99 lag from the exchange trade time to the Kafka acknowledgement, trades acknowledged in
  the window (``handler.publisher.stats.lag_us``, ``feed_metrics.lag_percentiles_ms``);
* trades the market made per second, so a rate the handler cannot sustain shows;
* this process's CPU seconds per second and records acknowledged per CPU second (the machine is
  shared: a rate alone says as much about the neighbours as about the handler).

``--simulator in-process`` (the default) runs the simulator in the bench's event loop, sharing a
core and the GIL with the handler; ``subprocess`` runs ``python -m k2.local.exchange_simulator``
so the exchange has its own process, as a real one would.

Baseline in the same run: a bare kafka-python producer (``kafka_producer.build_producer``:
acks=all, idempotent, lz4) sending the same records pre-serialised (frames recorded from the
simulator, parsed and framed with the registered schema version ids) to the same topics, with
the same keys, as fast as it can: the handler's max rate is reported as a fraction of that.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import psutil

from bench.feed_corpus import quiet_logging, record_frames
from k2.aws import aws_client
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.feeds.avro_records import RawRecord, avro_record, schema_name
from k2.feeds.feed_handler import FeedHandler
from k2.feeds.feed_metrics import lag_percentiles_ms
from k2.feeds.feed_service import build_feed, build_handler
from k2.feeds.feed_settings import FeedSettings
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.kafka_producer import build_producer
from k2.feeds.market_data_publisher import MarketDataPublisher
from k2.local.cloud import LocalCloud
from k2.local.exchange_simulator import ExchangeSimulator, SimulatorConfig
from k2.settings import K2Settings

Record = tuple[str, bytes, bytes]  # topic, key, framed Avro value


@dataclass(frozen=True)
class Simulated:
    """A running simulator: where to connect, and how many trades each market has made."""

    binance_port: int
    kraken_port: int
    trades_made: Callable[[Exchange], Awaitable[int]]
    cpu_seconds: Callable[[], float]  # of the simulator's own process (0 when in-process)

    def feed_settings(self, exchange: Exchange) -> FeedSettings:
        return FeedSettings(
            exchange=exchange,
            binance_ws_url=f"ws://127.0.0.1:{self.binance_port}",
            binance_rest_url=f"http://127.0.0.1:{self.binance_port}",
            kraken_ws_url=f"ws://127.0.0.1:{self.kraken_port}/v2",
            kraken_rest_url=f"http://127.0.0.1:{self.kraken_port}",
            # Each run is a fresh exchange whose trade ids start over: the ids an earlier run
            # left in the topic must not seed the trade sequence (they would read as duplicates).
            resume_from_kafka=False,
        )


@contextlib.asynccontextmanager
async def in_process_simulator(rate: float, seed: int) -> AsyncIterator[Simulated]:
    async with ExchangeSimulator(SimulatorConfig(seed=seed, rate=rate, control_port=None)) as sim:

        async def made(exchange: Exchange) -> int:
            trades: int = sim.stats()["trades"][exchange.value]
            return trades

        yield Simulated(sim.binance_port, sim.kraken_port, made, lambda: 0.0)


@contextlib.asynccontextmanager
async def subprocess_simulator(rate: float, seed: int) -> AsyncIterator[Simulated]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "k2.local.exchange_simulator",
        "--binance-port=0",
        "--kraken-port=0",
        "--control-port=0",
        f"--rate={rate}",
        f"--seed={seed}",
        "--log-level=WARNING",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        ports = ready["ports"]

        def stats() -> dict[str, Any]:
            connection = http.client.HTTPConnection("127.0.0.1", ports["control"], timeout=30)
            try:
                connection.request("GET", "/control/stats")
                result: dict[str, Any] = json.loads(connection.getresponse().read())
                return result
            finally:
                connection.close()

        async def made(exchange: Exchange) -> int:
            trades: int = (await asyncio.to_thread(stats))["trades"][exchange.value]
            return trades

        def cpu_seconds() -> float:
            times = psutil.Process(process.pid).cpu_times()
            return float(times.user + times.system)

        yield Simulated(ports["binance"], ports["kraken"], made, cpu_seconds)
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()


SIMULATORS = {"in-process": in_process_simulator, "subprocess": subprocess_simulator}


@dataclass(frozen=True)
class Snapshot:
    at: float
    cpu: float
    simulator_cpu: float
    frames: int
    trades: int
    published: int
    acknowledged: int
    made: int | None

    @classmethod
    async def take(cls, handler: FeedHandler[Any, Any], sim: Simulated, rate: float) -> Snapshot:
        counters = handler.counters
        at, cpu, simulator_cpu = time.perf_counter(), time.process_time(), sim.cpu_seconds()
        frames, trades = counters.frames, counters.trades_published
        published = trades + counters.quotes_published
        acknowledged = handler.publisher.stats.acknowledged
        # At rate 0 the simulator makes exactly what the handler drains (and its control
        # endpoint may be too busy to answer): only a fixed rate is worth checking.
        made = None if rate == 0 else await sim.trades_made(handler.feed.exchange)
        return cls(at, cpu, simulator_cpu, frames, trades, published, acknowledged, made)


@dataclass(frozen=True)
class HandlerRun:
    rate: float
    seconds: float
    cpu_seconds: float
    simulator_cpu_seconds: float
    frames: int
    trades: int
    published: int
    acknowledged: int
    made: int | None
    lags_us: list[int]
    reconnects: int
    queue_depth: int
    failed: int


async def run_handler(
    exchange: Exchange,
    rate: float,
    settings: K2Settings,
    args: argparse.Namespace,
) -> HandlerRun:
    async with SIMULATORS[args.simulator](rate, args.seed) as sim:
        handler = build_handler(sim.feed_settings(exchange), settings)
        stop = asyncio.Event()
        task = asyncio.create_task(handler.run(stop))
        await asyncio.sleep(args.warmup)
        before = await Snapshot.take(handler, sim, rate)
        handler.publisher.stats.lag_us.clear()
        await asyncio.sleep(args.duration)
        after = await Snapshot.take(handler, sim, rate)
        lags = list(handler.publisher.stats.lag_us)
        queue_depth = handler.queue.qsize()
        reconnects = handler.session.stats.reconnects  # by the end of the window
        stop.set()
        await task
        await asyncio.to_thread(handler.publisher.close)
    return HandlerRun(
        rate=rate,
        seconds=after.at - before.at,
        cpu_seconds=after.cpu - before.cpu,
        simulator_cpu_seconds=after.simulator_cpu - before.simulator_cpu,
        frames=after.frames - before.frames,
        trades=after.trades - before.trades,
        published=after.published - before.published,
        acknowledged=after.acknowledged - before.acknowledged,
        made=None if after.made is None or before.made is None else after.made - before.made,
        lags_us=lags,
        reconnects=reconnects,
        queue_depth=queue_depth,
        failed=handler.publisher.stats.failed,
    )


def baseline_records(exchange: Exchange, settings: K2Settings, frames: list[str]) -> list[Record]:
    """The records the handler would send for ``frames``: topic, key and framed value."""
    feed = build_feed(FeedSettings(exchange=exchange))
    registry = GlueSchemaRegistry(aws_client("glue", settings), settings.schema_registry_name)
    producer = build_producer(settings, client_id="bench-baseline-prepare")
    try:
        publisher = MarketDataPublisher(producer, registry, exchange)
        version_ids = publisher.prepare()
    finally:
        producer.close()
    records: list[Record] = []
    for text in frames:
        parsed = feed.parse(text, time.time_ns() // 1000)
        raws: list[tuple[RawRecord, str]] = [
            *((trade, feed.trade_identity(trade)[0]) for trade in parsed.trades),
            *((quote, feed.quote_identity(quote)[0]) for quote in parsed.quotes),
        ]
        for raw, symbol in raws:
            name = schema_name(raw)
            value = registry.serialize(version_ids[name], avro_record(raw))
            # The topic MarketDataPublisher.publish picks for this schema.
            data_type = DataType.TRADES if name.endswith("_trade") else DataType.QUOTES
            topic = raw_topic(data_type, exchange)
            records.append((topic, feed.record_key(symbol).encode(), value))
    return records


@dataclass(frozen=True)
class Baseline:
    records_per_s: float
    records_per_cpu_s: float


def bare_producer_rate(settings: K2Settings, records: list[Record], total: int) -> Baseline:
    """Records/s of ``total`` sends (cycling ``records``) until every one is acknowledged."""
    producer = build_producer(settings, client_id="bench-baseline")
    try:
        for topic in {topic for topic, _, _ in records}:
            producer.partitions_for(topic)
        for topic, key, value in records[:1000]:  # connections up, idempotent producer id known
            producer.send(topic, key=key, value=value)
        producer.flush()
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(total):
            topic, key, value = records[i % len(records)]
            producer.send(topic, key=key, value=value)
        producer.flush()
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
        return Baseline(total / seconds, total / cpu_seconds)
    finally:
        producer.close()


def print_run(run: HandlerRun, baseline: Baseline) -> None:
    label = "max" if run.rate == 0 else f"{run.rate:,.0f}"
    made = "-" if run.made is None else f"{run.made / run.seconds:,.0f}"
    percentiles = lag_percentiles_ms(run.lags_us)
    p50, p99 = percentiles if percentiles is not None else (float("nan"), float("nan"))
    acked = run.acknowledged / run.seconds
    print(
        f"  {label:>7} {made:>8} {run.trades / run.seconds:8,.0f} {run.frames / run.seconds:9,.0f}"
        f" {acked:9,.0f} {p50:9.1f} {p99:9.1f} {run.queue_depth:6d} {run.reconnects:4d}"
        f" {run.cpu_seconds / run.seconds:5.2f} {run.simulator_cpu_seconds / run.seconds:5.2f}"
        f" {run.acknowledged / run.cpu_seconds:9,.0f}"
        f"   {acked / baseline.records_per_s:5.2f}x"
        + (f"  FAILED {run.failed}" if run.failed else "")
    )


async def bench_exchange(
    exchange: Exchange, settings: K2Settings, args: argparse.Namespace
) -> None:
    frames = await record_frames(exchange, args.corpus_frames, seed=args.seed)
    records = baseline_records(exchange, settings, frames)
    baseline = await asyncio.to_thread(bare_producer_rate, settings, records, args.baseline_records)
    size = statistics.mean(len(value) for _, _, value in records)
    print(
        f"\n{exchange.value}: simulator {args.simulator}; {args.duration:.0f} s window after "
        f"{args.warmup:.0f} s warm-up; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores"
    )
    print(
        f"  baseline: bare kafka-python producer {baseline.records_per_s:9,.0f} records/s, "
        f"{baseline.records_per_cpu_s:,.0f} per CPU-s "
        f"({args.baseline_records:,} records, mean value {size:.0f} B)"
    )
    print(
        f"  {'rate':>7} {'made/s':>8} {'trades/s':>8} {'frames/s':>9} {'acked/s':>9} "
        f"{'lag p50ms':>9} {'lag p99ms':>9} {'queue':>6} {'reco':>4} {'cores':>5} {'sim':>5} "
        f"{'acked/CPUs':>9}   acked/s vs baseline"
    )
    print(
        "  (made/s: trades the market made; trades/s, frames/s: through the handler; acked/s:"
        " records, trades + quotes, acknowledged by Kafka; queue: frames waiting at the end;"
        " cores: this process's CPU-s per s, simulator included when in-process; sim: the"
        " simulator subprocess's)"
    )
    for rate in [0.0, *args.rates]:
        print_run(await run_handler(exchange, rate, settings, args), baseline)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--exchange", choices=[e.value for e in Exchange], action="append")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument(
        "--rates",
        type=lambda text: [float(part) for part in text.split(",") if part],
        default=[100.0, 1_000.0, 10_000.0],
        help="simulator trades/s per exchange, besides max (0)",
    )
    parser.add_argument("--simulator", choices=sorted(SIMULATORS), default="in-process")
    parser.add_argument("--baseline-records", type=int, default=100_000)
    parser.add_argument("--corpus-frames", type=int, default=10_000, help="baseline's records")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    quiet_logging()
    cloud = LocalCloud()
    cloud.layout.export_client_environment()
    settings = cloud.layout.client_settings()
    exchanges = [Exchange(value) for value in args.exchange or [e.value for e in Exchange]]
    for exchange in exchanges:
        asyncio.run(bench_exchange(exchange, settings, args))


if __name__ == "__main__":
    main()
