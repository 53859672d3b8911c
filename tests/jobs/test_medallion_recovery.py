"""Exactly-once through failures: the continuous pipeline SIGKILLed in the middle of a batch and
restarted, and the Kafka broker restarted under a running bronze stream.

Each test feeds the raw topics from the exchange simulator through both feed handlers (faults
included), breaks something while Spark is working, lets the jobs recover, and then demands the
same result as the undisturbed run: bronze holds every Kafka record of the run exactly once,
silver and the DLQ together hold every bronze record exactly once, gold holds every trade the
markets made exactly once with every field equal, and every silver quote exactly once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from k2.aws import aws_client
from k2.domain.markets import DataType
from k2.jobs.bronze import Trigger, start_bronze
from k2.jobs.gold import gold_table
from k2.lake.tables import bronze_table, silver_table
from k2.local.cloud import KAFKA, LocalCloud
from k2.settings import K2Settings
from tests.jobs.medallion_testkit import (
    PAIRS,
    Checkpoints,
    Feed,
    bronze_counts,
    check_gold,
    describe_states,
    layer_counts,
    run_jobs,
    run_offsets,
    run_sizes,
)

if TYPE_CHECKING:
    from kafka.structs import TopicPartition
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming.query import StreamingQuery

pytestmark = pytest.mark.integration

BRONZE = {bronze_table(e, t).name for e, t in PAIRS}
SILVER = {silver_table(e, t).name for e, t in PAIRS}
GOLD = {gold_table(t).name for t in DataType}
WATCHED = BRONZE | SILVER | GOLD
PIPELINE_STARTED = b"pipeline running"


def _assert_exactly_once(
    spark: SparkSession,
    settings: K2Settings,
    ground_truth: Path,
    start: dict[TopicPartition, int],
    end: dict[TopicPartition, int],
) -> None:
    counts = layer_counts(spark, settings, start, end)
    for topic, count in counts.items():
        assert count["records"] > 0, topic
        assert set(count.values()) == {count["records"]}, (topic, count)
    gold = check_gold(spark, settings, ground_truth, start, end)
    assert gold.made
    assert gold.most_copies_of_a_trade == 1
    assert gold.ours == gold.made
    assert gold.most_copies_of_a_quote == 1
    assert gold.silver_quotes_missing_from_gold == 0


# --- the pipeline, killed ----------------------------------------------------------------------


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


class _Pipeline:
    """``python -m k2.jobs.pipeline`` in its own session, so SIGKILL reaches its whole group
    (the driver and Spark's JVM); Spark's Python worker daemon makes its own process group, so
    it is killed by pid as a descendant."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "k2.jobs.pipeline", "--interval", "2 seconds"],
            env=os.environ,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"the pipeline exited ({self.process.returncode}):\n{_tail(self.log)}")

    def started(self) -> bool:
        self.check_alive()
        return PIPELINE_STARTED in self.log.read_bytes()

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                descendants = psutil.Process(self.process.pid).children(recursive=True)
            except psutil.NoSuchProcess:
                descendants = []
            os.killpg(self.process.pid, signal.SIGKILL)
            for child in descendants:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()
            _, alive = psutil.wait_procs(descendants, timeout=30)
            assert not alive, alive
        self.process.wait(30)
        self._out.close()


def _metadata_locations(settings: K2Settings) -> dict[str, str]:
    """Every K2 table's current Iceberg metadata file (one Glue call): a new one is a commit."""
    glue = aws_client("glue", settings)
    pages = glue.get_paginator("get_tables").paginate(DatabaseName=settings.glue_database)
    return {
        table["Name"]: table.get("Parameters", {}).get("metadata_location", "")
        for page in pages
        for table in page["TableList"]
        if table["Name"] in WATCHED
    }


def _kill_mid_batch(pipeline: _Pipeline, settings: K2Settings) -> dict[str, Any]:
    """SIGKILL the pipeline the moment it commits a batch to a silver or gold table, once every
    layer has committed since the feed began (so every query is mid-stream, not starting):
    most likely after that table commit and before the checkpoint's commit log is written, the
    window in which a restart must not write the batch twice."""
    deadline = time.monotonic() + 300
    committed: set[str] = set()  # tables the pipeline committed to since the feed began
    baseline = _metadata_locations(settings)
    polls = 0
    began = time.monotonic()
    while True:
        pipeline.check_alive()
        if time.monotonic() > deadline:
            pytest.fail(f"committed only to {sorted(committed)}:\n{_tail(pipeline.log)}")
        current = _metadata_locations(settings)
        polls += 1
        changed = {name for name, location in current.items() if baseline.get(name) != location}
        armed = all(committed & layer for layer in (BRONZE, SILVER, GOLD))
        if armed and changed & (SILVER | GOLD):
            pipeline.kill()
            return {
                "committed_before": sorted(committed),
                "killed_on_commit_to": sorted(changed),
                "poll_ms": round(1000 * (time.monotonic() - began) / polls, 1),
            }
        committed |= changed
        baseline = current


def test_a_pipeline_killed_mid_batch_resumes_exactly_once(
    spark: SparkSession, k2_settings: K2Settings, tmp_path: Path
) -> None:
    ground_truth = tmp_path / "ground_truth.jsonl"
    checkpoints = Checkpoints(k2_settings)
    start = run_offsets(k2_settings)
    timings: dict[str, float] = {}
    began = time.monotonic()

    pipeline = _Pipeline(tmp_path / "pipeline.log")
    try:
        deadline = time.monotonic() + 180
        while not pipeline.started():
            assert time.monotonic() < deadline, _tail(pipeline.log)
            time.sleep(0.5)
        timings["pipeline_started_s"] = time.monotonic() - began
        with Feed(k2_settings, ground_truth, seed=41) as feed:
            assert feed.on_air.wait(60)
            aim = _kill_mid_batch(pipeline, k2_settings)
            timings["killed_s"] = time.monotonic() - began
    finally:
        pipeline.kill()
    end = run_offsets(k2_settings)

    states = checkpoints.states()
    at_kill = describe_states(checkpoints, states)
    report: dict[str, Any] = {"aim": aim, "queries": at_kill}
    (tmp_path / "kill_report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    # The kill did land mid-batch: some query had planned a batch it had not committed.
    assert any(s.in_flight is not None for s in states), at_kill

    run_jobs(spark, k2_settings)  # the restarted jobs resume from the killed one's checkpoints
    timings["recovered_s"] = time.monotonic() - began
    _assert_exactly_once(spark, k2_settings, ground_truth, start, end)
    timings["checked_s"] = time.monotonic() - began
    print(
        json.dumps({"timings": timings, "feed": {str(k): str(v) for k, v in feed.counters.items()}})
    )


# --- the broker, restarted ---------------------------------------------------------------------


def _behind(
    spark: SparkSession,
    settings: K2Settings,
    queries: list[StreamingQuery],
    start: dict[TopicPartition, int],
    end: dict[TopicPartition, int],
) -> str:
    """Why bronze has not caught up: the run's ranges, bronze's coverage, each query's state."""
    ranges = sorted((tp.topic, tp.partition, start.get(tp, 0), e) for tp, e in end.items())
    lines = [
        f"records: {run_sizes(start, end)}",
        f"bronze (rows, distinct): {bronze_counts(spark, settings, start, end)}",
        f"ranges: {ranges}",
    ]
    for query in queries:
        progress = query.lastProgress or {}
        sources = [
            {k: source.get(k) for k in ("startOffset", "endOffset", "latestOffset")}
            for source in progress.get("sources", [])
        ]
        lines.append(f"{query.name}: {query.status} batch={progress.get('batchId')} {sources}")
    return "\n".join(lines)


def test_a_broker_restart_under_a_running_bronze_stream_changes_nothing(
    spark: SparkSession, k2_settings: K2Settings, local_cloud: LocalCloud, tmp_path: Path
) -> None:
    ground_truth = tmp_path / "ground_truth.jsonl"
    start = run_offsets(k2_settings)
    timings: dict[str, float] = {}
    began = time.monotonic()
    queries = [
        start_bronze(spark, k2_settings, exchange, data_type, Trigger.CONTINUOUS, "2 seconds")
        for exchange, data_type in PAIRS
    ]
    try:
        with Feed(k2_settings, ground_truth, seed=43) as feed:
            assert feed.on_air.wait(60)
            time.sleep(4.0)  # bronze is reading what the handlers publish
            restart_began = time.monotonic()
            local_cloud.restart(KAFKA)
            timings["broker_down_s"] = time.monotonic() - restart_began
            time.sleep(4.0)  # the handlers publish to the restarted broker
        end = run_offsets(k2_settings)
        timings["fed_s"] = time.monotonic() - began

        # The running stream survives the restart and catches up on its own.
        records = run_sizes(start, end)

        def caught_up() -> bool:
            counts = bronze_counts(spark, k2_settings, start, end)
            return all(counts.get(topic, (0, 0))[1] == size for topic, size in records.items())

        # Generous: Spark's Kafka reads retry for minutes (driver offset look-ups, executor polls)
        # before they fail a query; a hang, not a slow machine, should be what trips this.
        deadline = time.monotonic() + 180
        while not caught_up():
            failed = {q.name: str(q.exception()) for q in queries if not q.isActive}
            assert not failed, failed
            if time.monotonic() > deadline:
                pytest.fail(_behind(spark, k2_settings, queries, start, end))
            time.sleep(2.0)
        timings["bronze_caught_up_s"] = time.monotonic() - began
        assert all(q.isActive for q in queries)
    finally:
        for query in queries:
            query.stop()

    run_jobs(spark, k2_settings)
    timings["jobs_s"] = time.monotonic() - began
    _assert_exactly_once(spark, k2_settings, ground_truth, start, end)
    timings["checked_s"] = time.monotonic() - began
    print(json.dumps({"timings": timings}))
