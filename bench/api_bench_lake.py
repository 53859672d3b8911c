"""The API bench's own local cloud (AWS endpoint only), its lake, and the gateway in front of it.

The lake: gold trades generated in Spark by ``bench.ohlcv_throughput.trades_frame`` (4 markets, 7
days, deterministic), appended in two commits (90 % then 10 %, so a time-travel read between the
two sees less), then the 1m..1d bars built by the real OHLCV job.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyiceberg.table import Table
from rich.console import Console

from k2.domain.ohlcv import Timeframe
from k2.jobs.ohlcv import ensure_tables, run_ohlcv
from k2.lake.catalog import glue_catalog
from k2.lake.tables import gold_trades_table, ohlcv_table
from k2.local import provisioning
from k2.local.cloud import API_GATEWAY, LocalCloud
from k2.local.layout import LocalCloudSettings
from k2.local.processes import ManagedProcess, ensure_port_free, port_is_listening, wait_until
from k2.local.usage_plans import ApiKey, Plan, UsagePlansConfig
from k2.settings import K2Settings

DATABASE = "k2_bench_api"
FIRST_COMMIT_SHARE = 0.9
BENCH_CLOUD = {
    "state_dir": Path(tempfile.gettempdir()) / "k2-bench-api",
    "aws_port": 34566,
    "kafka_port": 39092,
    "kafka_controller_port": 39093,
    "binance_sim_port": 38765,
    "kraken_sim_port": 38766,
    "simulator_control_port": 38767,
    "api_port": 34580,
}
"""The bench cloud's defaults; a K2_LOCAL_* variable overrides each one."""
BENCH_PLAN = "bench-unthrottled"

console = Console(highlight=False, log_path=False, width=120)


@contextmanager
def step(label: str) -> Iterator[None]:
    """Log a long step's start and its duration."""
    console.log(f"{label} ...")
    started = time.perf_counter()
    yield
    console.log(f"{label}: done in {time.perf_counter() - started:.1f} s")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def bench_cloud() -> LocalCloud:
    """The bench's cloud: its own state dir and ports unless K2_LOCAL_* says otherwise."""
    chosen = {k: v for k, v in BENCH_CLOUD.items() if f"K2_LOCAL_{k.upper()}" not in os.environ}
    return LocalCloud(LocalCloudSettings(**chosen))  # type: ignore[arg-type]


def start_aws_endpoint(cloud: LocalCloud) -> None:
    """Only the AWS endpoint (S3 + Glue): Kafka and the simulator would only add noise."""
    cloud.layout.ensure()
    cloud.layout.spark_jars()  # cached after the first run on the machine
    cloud.start_aws_endpoint()
    s3 = cloud.layout.aws_client("s3")

    def answers() -> bool:
        if not port_is_listening(cloud.layout.settings.aws_port):
            return False
        s3.list_buckets()
        return True

    if not wait_until(answers, 90.0, interval=0.5):
        raise RuntimeError(f"the AWS endpoint did not answer (see {cloud.layout.logs})")
    provisioning.create_buckets(s3, cloud.layout.client_settings())


def bench_settings(cloud: LocalCloud) -> K2Settings:
    return cloud.layout.client_settings().model_copy(update={"glue_database": DATABASE})


# --- the lake ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lake:
    trades: int
    earlier_snapshot: int
    current_snapshot: int
    as_of: str
    """An ISO time between the two gold commits: reads the earlier snapshot."""
    earlier_rows: int
    bars_1h: int


def _records(table: Table) -> int:
    snapshot = table.current_snapshot()
    summary = snapshot.summary if snapshot else None
    return int(summary.get("total-records") or 0) if summary else 0


def existing_lake(settings: K2Settings, trades: int) -> Lake | None:
    """The lake a previous run left (same cloud still up), if it has ``trades`` gold rows."""
    catalog = glue_catalog(settings)
    try:
        gold = catalog.load_table(gold_trades_table().identifier(DATABASE))
        bars = catalog.load_table(ohlcv_table(Timeframe.ONE_HOUR).identifier(DATABASE))
    except Exception:  # no database or no table yet: build
        return None
    history = gold.history()
    if _records(gold) != trades or len(history) != 2 or _records(bars) == 0:
        return None
    earlier, current = history
    middle_ms = (earlier.timestamp_ms + current.timestamp_ms) // 2
    earlier_snapshot = gold.snapshot_by_id(earlier.snapshot_id)
    summary = earlier_snapshot.summary if earlier_snapshot else None
    return Lake(
        trades=trades,
        earlier_snapshot=earlier.snapshot_id,
        current_snapshot=current.snapshot_id,
        as_of=datetime.fromtimestamp(middle_ms / 1000, UTC).isoformat(timespec="milliseconds"),
        earlier_rows=int(summary.get("total-records") or 0) if summary else 0,
        bars_1h=_records(bars),
    )


def build_lake(settings: K2Settings, trades: int) -> None:
    """Drop and recreate the bench tables, append the trades in two commits, build the bars."""
    from bench.ohlcv_throughput import trades_frame
    from k2.jobs.spark_session import build_spark_session

    with step("SparkSession"):
        spark = build_spark_session("bench-api-latency", settings)
    try:
        with step(f"drop and create the tables of {DATABASE}"):
            spark.sql(f"CREATE NAMESPACE IF NOT EXISTS glue_catalog.{DATABASE}")
            for table in (gold_trades_table(), *(ohlcv_table(t) for t in Timeframe)):
                spark.sql(f"DROP TABLE IF EXISTS {table.spark_identifier(DATABASE)} PURGE")
            ensure_tables(spark, settings)
        gold = gold_trades_table().spark_identifier(DATABASE)
        first = int(trades * FIRST_COMMIT_SHARE)
        with step(f"gold commit 1: {first:,} trades generated in Spark and appended"):
            trades_frame(spark, 0, first, None).writeTo(gold).append()
        time.sleep(2.0)  # the two commits at least a second apart, for the as_of between them
        with step(f"gold commit 2: {trades - first:,} more trades"):
            trades_frame(spark, first, trades - first, None).writeTo(gold).append()
        with step("OHLCV bars, all timeframes (k2.jobs.ohlcv.run_ohlcv)"):
            result = run_ohlcv(spark, settings)
        console.log(f"OHLCV run: mode {result.mode}, {result.minutes:,} 1m windows")
    finally:
        spark.stop()


# --- the data files, for the DuckDB baseline -----------------------------------------------------


def plan_files(table: Table, snapshot_id: int) -> list[str]:
    """The data files a whole-table scan of the snapshot reads; refuses delete files (the
    baseline reads plain Parquet, so rows a delete file removes would be counted)."""
    tasks = list(table.scan(snapshot_id=snapshot_id).plan_files())
    if any(task.delete_files for task in tasks):
        raise RuntimeError(f"{table.name()} has delete files at {snapshot_id}: no plain baseline")
    return [task.file.file_path for task in tasks]


def download(table: Table, paths: list[str], folder: Path) -> dict[str, Path]:
    """Copy the S3 objects into ``folder`` once; the local path of each."""
    local = {}
    for path in paths:
        target = folder / path.split("://", 1)[-1].replace("/", "__")
        if not target.exists():
            with table.io.new_input(path).open() as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink, 8 * 2**20)
        local[path] = target
    return local


@dataclass(frozen=True)
class LocalFiles:
    trades_now: list[Path]
    trades_then: list[Path]
    bars_1h: list[Path]

    @property
    def total_bytes(self) -> int:
        every = {*self.trades_now, *self.trades_then, *self.bars_1h}
        return sum(path.stat().st_size for path in every)


def local_files(settings: K2Settings, lake: Lake, folder: Path) -> LocalFiles:
    catalog = glue_catalog(settings)
    gold = catalog.load_table(gold_trades_table().identifier(DATABASE))
    bars = catalog.load_table(ohlcv_table(Timeframe.ONE_HOUR).identifier(DATABASE))
    now = plan_files(gold, lake.current_snapshot)
    then = plan_files(gold, lake.earlier_snapshot)
    bar_snapshot = bars.current_snapshot()
    assert bar_snapshot is not None
    bar_files = plan_files(bars, bar_snapshot.snapshot_id)
    gold_local = download(gold, sorted({*now, *then}), folder)
    bars_local = download(bars, bar_files, folder)
    return LocalFiles(
        [gold_local[p] for p in now], [gold_local[p] for p in then], list(bars_local.values())
    )


# --- the gateway ---------------------------------------------------------------------------------


def write_usage_plans(cloud: LocalCloud) -> tuple[Path, str]:
    """One random key on a plan no bench load can reach (throttling would distort latency)."""
    key = secrets.token_urlsafe(32)
    config = UsagePlansConfig(
        keys=[ApiKey(id="benchapi01", name="bench-api-latency", value=key, plan=BENCH_PLAN)],
        plans={BENCH_PLAN: Plan(rate_limit=1_000_000, burst_limit=1_000_000)},
    )
    path = cloud.layout.api_gateway_dir / "bench-usage-plans.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(config.model_dump_json(indent=2) + "\n")
    return path, key


def handler_environment(cloud: LocalCloud, key: str) -> dict[str, str]:
    """What the cloud gives the handler, with the bench database and the bench key."""
    return {
        **cloud.layout.client_environment(),
        "K2_API_KEYS": key,
        "K2_GLUE_DATABASE": DATABASE,
    }


def start_gateway(cloud: LocalCloud, plans: Path, environment: dict[str, Any]) -> ManagedProcess:
    """``python -m k2.local.api_gateway`` on the cloud's api port, as the cloud's component."""
    layout = cloud.layout
    port = layout.settings.api_port
    process = cloud.process(API_GATEWAY)
    process.stop()
    ensure_port_free(port, "API Gateway")
    process.start(
        [
            sys.executable,
            "-m",
            "k2.local.api_gateway",
            f"--port={port}",
            f"--handler={layout.api_handler}:handler",
            f"--usage-plans={plans}",
            "--stage=local",
        ],
        env=environment,
    )
    if not wait_until(lambda: port_is_listening(port), 60.0, interval=0.2):
        raise RuntimeError(f"the gateway did not listen on {port}: {process.last_log_lines()}")
    return process
