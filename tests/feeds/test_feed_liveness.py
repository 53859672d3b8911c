"""The feed handler's liveness file and the ECS health check that reads it.

The pure parts run on a fake wall clock: the recorder's signal times and throttling, and the
check's verdict and one-line reason for fresh, stale, missing and unreadable files. The
integration test runs ``k2 feed`` against the test cloud's exchange simulator and Kafka and asks
the real command, as ECS would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest
from kafka import KafkaProducer

from k2.domain.markets import Exchange
from k2.feeds.binance_feed import BinanceFeed
from k2.feeds.feed_handler import FeedHandler
from k2.feeds.feed_settings import FeedSettings
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.liveness import (
    DEFAULT_LIVENESS_FILE,
    LIVENESS_FILE_ENV,
    Liveness,
    LivenessRecorder,
    Progress,
    handler_progress,
    main,
)
from k2.feeds.market_data_publisher import MarketDataPublisher
from k2.feeds.websocket_session import SessionPolicy
from k2.local.cloud import LocalCloud

MAX_AGE = 120.0
T0 = 1_700_000_000.0


class FakeClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeProgress:
    """The counters a handler would move, set by the test."""

    def __init__(self) -> None:
        self.current = Progress(frames=0, acknowledged=0, outstanding=0)

    def __call__(self) -> Progress:
        return self.current


def check(path: Path, now: float, *args: str) -> int:
    return main(["--max-age", str(MAX_AGE), "--file", str(path), *args], clock=FakeClock(now))


def written(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture
def liveness_file(tmp_path: Path) -> Path:
    return tmp_path / "k2-feed-liveness"


@pytest.fixture
def progress() -> FakeProgress:
    return FakeProgress()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorder(liveness_file: Path, progress: FakeProgress, clock: FakeClock) -> LivenessRecorder:
    return LivenessRecorder(liveness_file, progress, clock=clock)


def busy(progress: FakeProgress, recorder: LivenessRecorder, clock: FakeClock) -> None:
    """One second of a working handler: frames in, records sent and acknowledged."""
    last = progress.current
    clock.now += 1
    progress.current = Progress(last.frames + 10, last.acknowledged + 8, outstanding=2)
    recorder.observe()


# -- the recorder --------------------------------------------------------------------------------


@pytest.mark.unit
def test_a_working_handler_writes_both_signals_at_the_time_they_moved(
    recorder: LivenessRecorder, progress: FakeProgress, clock: FakeClock, liveness_file: Path
) -> None:
    busy(progress, recorder, clock)

    assert written(liveness_file) == {
        "pid": os.getpid(),
        "started_at": T0,
        "written_at": T0 + 1,
        "frame_at": T0 + 1,
        "kafka_at": T0 + 1,
        "frames": 10,
        "acknowledged": 8,
        "outstanding": 2,
    }
    assert [p.name for p in liveness_file.parent.iterdir()] == [liveness_file.name]  # no temp


@pytest.mark.unit
def test_the_writer_writes_at_most_once_a_second(
    recorder: LivenessRecorder, progress: FakeProgress, clock: FakeClock, liveness_file: Path
) -> None:
    assert recorder.observe() is not None
    first = liveness_file.read_text()

    for _ in range(3):  # a burst of observations inside the same second
        clock.now += 0.25
        progress.current = Progress(progress.current.frames + 1, 0, 0)
        assert recorder.observe() is None
    assert liveness_file.read_text() == first

    clock.now += 0.25  # a second after the first write
    record = recorder.observe()
    assert record is not None and record.written_at == T0 + 1.0
    assert written(liveness_file)["frames"] == 3  # what the throttled observations saw


@pytest.mark.unit
def test_a_signal_keeps_the_time_its_counter_last_moved(
    recorder: LivenessRecorder, progress: FakeProgress, clock: FakeClock, liveness_file: Path
) -> None:
    busy(progress, recorder, clock)
    clock.now += 60  # frames stop; the broker acknowledges what was still outstanding
    progress.current = Progress(progress.current.frames, progress.current.acknowledged + 2, 0)
    recorder.observe()
    clock.now += 60  # still no frames; nothing waits for Kafka

    recorder.observe()

    assert written(liveness_file)["frame_at"] == T0 + 1
    assert written(liveness_file)["kafka_at"] == T0 + 121  # nothing outstanding is not stale


@pytest.mark.unit
def test_records_waiting_without_acknowledgement_age_the_kafka_signal(
    recorder: LivenessRecorder, progress: FakeProgress, clock: FakeClock, liveness_file: Path
) -> None:
    busy(progress, recorder, clock)
    for _ in range(5):  # frames keep coming and are sent, the broker acknowledges nothing
        clock.now += 30
        last = progress.current
        progress.current = Progress(last.frames + 30, last.acknowledged, last.outstanding + 30)
        recorder.observe()

    assert written(liveness_file)["kafka_at"] == T0 + 1
    assert written(liveness_file)["frame_at"] == T0 + 151


@pytest.mark.unit
def test_before_the_first_frame_the_frame_signal_is_absent(
    recorder: LivenessRecorder, liveness_file: Path
) -> None:
    recorder.observe()

    assert written(liveness_file)["frame_at"] is None
    assert check(liveness_file, T0 + 5) == 1


@pytest.mark.unit
def test_a_file_that_cannot_be_written_is_logged_not_raised(
    tmp_path: Path, progress: FakeProgress, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    recorder = LivenessRecorder(blocked / "liveness", progress, clock=clock)

    assert recorder.observe() is None
    clock.now += 1
    assert recorder.observe() is None

    errors = [r for r in caplog.records if "cannot write the liveness file" in r.getMessage()]
    assert len(errors) == 1  # once per failure streak


@pytest.mark.unit
def test_progress_is_read_from_the_handlers_own_counters() -> None:
    feed = BinanceFeed("ws://127.0.0.1:9", "http://127.0.0.1:9", ("BTCUSDT",))
    publisher = MarketDataPublisher(
        cast(KafkaProducer, None), cast(GlueSchemaRegistry, None), Exchange.BINANCE
    )
    handler = FeedHandler(feed, publisher, SessionPolicy(stale_after=30.0), queue_size=10)
    handler.counters.frames = 42
    publisher.stats.sent = {"market.crypto.trades.binance.raw": 30, "market.dlq.binance": 5}
    publisher.stats.acknowledged = 31
    publisher.stats.failed = 1

    assert handler_progress(handler) == Progress(frames=42, acknowledged=31, outstanding=3)


# -- the check -----------------------------------------------------------------------------------


def record_json(**changes: Any) -> str:
    """A valid record, fresh at ``T0``, with ``changes``."""
    record = {
        "pid": 1,
        "started_at": T0,
        "written_at": T0,
        "frame_at": T0,
        "kafka_at": T0,
        "frames": 100,
        "acknowledged": 90,
        "outstanding": 0,
        **changes,
    }
    return json.dumps(record)


def write_record(path: Path, **changes: Any) -> None:
    path.write_text(record_json(**changes))


@pytest.mark.unit
def test_a_fresh_file_is_healthy(
    recorder: LivenessRecorder,
    progress: FakeProgress,
    clock: FakeClock,
    liveness_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    busy(progress, recorder, clock)

    assert check(liveness_file, clock.now + MAX_AGE) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.unit
def test_a_stale_frame_signal_is_named(
    liveness_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_record(liveness_file, frame_at=T0 - 300)

    assert check(liveness_file, T0) == 1

    err = capsys.readouterr().err
    assert err == "unhealthy: newest exchange frame is 300s old (max age 120s)\n"


@pytest.mark.unit
def test_a_stale_kafka_signal_is_named(
    liveness_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_record(liveness_file, kafka_at=T0 - 200, outstanding=57)

    assert check(liveness_file, T0) == 1

    err = capsys.readouterr().err
    assert err == (
        "unhealthy: Kafka acknowledged nothing for 200s with 57 record(s) waiting (max age 120s)\n"
    )


@pytest.mark.unit
def test_a_stopped_handler_is_stale_on_both_signals_in_one_line(
    liveness_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_record(liveness_file, pid=4321)

    assert check(liveness_file, T0 + 600) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "newest exchange frame is 600s old" in err
    assert "Kafka acknowledged nothing for 600s" in err
    assert "file last written 600s ago (pid 4321)" in err


@pytest.mark.unit
def test_exactly_max_age_is_still_healthy(liveness_file: Path) -> None:
    write_record(liveness_file)

    assert check(liveness_file, T0 + MAX_AGE) == 0
    assert check(liveness_file, T0 + MAX_AGE + 0.5) == 1


@pytest.mark.unit
def test_a_missing_file_means_not_started(
    liveness_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check(liveness_file, T0) == 1

    err = capsys.readouterr().err
    assert (
        err == f"unhealthy: no liveness file at {liveness_file}: the feed handler has not started\n"
    )


@pytest.mark.unit
def test_no_frame_since_start_is_unhealthy(
    liveness_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_record(liveness_file, frame_at=None)

    assert check(liveness_file, T0 + 30) == 1

    assert "no exchange frame received since the handler started 30s ago" in capsys.readouterr().err


@pytest.mark.unit
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "not JSON"),
        ("{half", "not JSON"),
        ("[1, 2]", "not a JSON object but list"),
        ('{"pid": 1}', "missing acknowledged, frame_at, frames, kafka_at, outstanding"),
        (record_json(frame_at="soon"), "frame_at is 'soon', not a time"),
        (record_json(frames=-1), "frames is -1, not a count"),
        (record_json(written_at=True), "written_at is True, not a time"),
        (record_json(kafka_at=float("nan")), "kafka_at is nan, not a time"),
    ],
)
def test_a_garbage_file_is_unhealthy_with_a_clear_reason(
    liveness_file: Path, capsys: pytest.CaptureFixture[str], content: str, reason: str
) -> None:
    liveness_file.write_text(content)

    assert check(liveness_file, T0) == 1

    err = capsys.readouterr().err
    assert err.startswith(f"unhealthy: {liveness_file} is not a liveness record: ")
    assert reason in err
    assert err.count("\n") == 1


@pytest.mark.unit
def test_the_record_round_trips(liveness_file: Path) -> None:
    write_record(liveness_file, frame_at=None, kafka_at=T0 - 1)

    record = Liveness.from_json(liveness_file.read_text())

    assert Liveness.from_json(record.to_json()) == record
    assert (record.frame_at, record.kafka_at) == (None, T0 - 1)


@pytest.mark.unit
def test_the_file_comes_from_the_environment_the_handler_reads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "elsewhere"
    monkeypatch.setenv(LIVENESS_FILE_ENV, str(path))
    write_record(path)

    assert FeedSettings(exchange=Exchange.KRAKEN).liveness_file == path
    assert main(["--max-age", "120"], clock=FakeClock(T0)) == 0

    monkeypatch.delenv(LIVENESS_FILE_ENV)
    assert FeedSettings(exchange=Exchange.KRAKEN).liveness_file == DEFAULT_LIVENESS_FILE


@pytest.mark.unit
def test_max_age_is_required_and_positive(liveness_file: Path) -> None:
    for argv in ([], ["--max-age", "0"], ["--max-age", "-5"]):
        with pytest.raises(SystemExit) as exited:
            main([*argv, "--file", str(liveness_file)])
        assert exited.value.code == 2


@pytest.mark.unit
def test_the_module_runs_as_the_ecs_command(liveness_file: Path) -> None:
    write_record(liveness_file, written_at=time.time(), frame_at=time.time(), kafka_at=time.time())
    command = [sys.executable, "-m", "k2.feeds.liveness", "--max-age", "120"]

    healthy = subprocess.run([*command, "--file", str(liveness_file)], capture_output=True)
    missing = subprocess.run(
        [*command, "--file", str(liveness_file.with_name("absent"))], capture_output=True, text=True
    )

    assert healthy.returncode == 0, healthy.stderr
    assert missing.returncode == 1
    assert missing.stderr.startswith("unhealthy: no liveness file at ")


# -- with the real handler -----------------------------------------------------------------------


@pytest.mark.integration
def test_a_running_k2_feed_is_healthy_and_stale_once_stopped(
    local_cloud: LocalCloud, tmp_path: Path
) -> None:
    liveness_file = tmp_path / "liveness"
    env = {
        **os.environ,
        **local_cloud.layout.client_environment(),
        "K2_FEED_RESUME_FROM_KAFKA": "false",
        LIVENESS_FILE_ENV: str(liveness_file),
    }
    command = [sys.executable, "-m", "k2.feeds.liveness", "--max-age"]
    process = subprocess.Popen(
        [sys.executable, "-m", "k2.cli", "feed", "--exchange", "kraken"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        result = subprocess.run([*command, "5"], env=env, capture_output=True, text=True)
        while result.returncode != 0 and time.monotonic() < deadline:
            assert process.poll() is None, "k2 feed exited early"
            time.sleep(0.5)
            result = subprocess.run([*command, "5"], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        time.sleep(3)  # a few seconds of steady running: still fresh at a tight max-age
        result = subprocess.run([*command, "2"], env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        record = Liveness.from_json(liveness_file.read_text())
        assert record.pid == process.pid and record.frames > 0 and record.acknowledged > 0
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-2000:]

    assert liveness_file.exists()  # nothing removed on exit: a stopped handler is stale
    time.sleep(2.5)
    stale = subprocess.run([*command, "2"], env=env, capture_output=True, text=True)
    assert stale.returncode == 1
    assert "newest exchange frame is" in stale.stderr
