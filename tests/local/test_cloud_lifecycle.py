"""`k2 local up | status | down` on a clean state dir of its own, beside the session's cloud."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from k2.domain.markets import DataType, Exchange, raw_topic
from k2.feeds.kafka_producer import build_producer
from k2.feeds.topic_reader import end_offsets
from k2.local.cloud import COMPONENTS, LocalCloud
from k2.local.errors import LocalCloudError
from k2.local.layout import LocalCloudSettings
from k2.local.processes import port_is_listening

pytestmark = pytest.mark.integration

PORTS = {
    "aws_port": 24566,
    "kafka_port": 29092,
    "kafka_controller_port": 29093,
    "binance_sim_port": 28765,
    "kraken_sim_port": 28766,
    "simulator_control_port": 28767,
    "api_port": 24580,
}


def _settings(state_dir: Path) -> LocalCloudSettings:
    return LocalCloudSettings.model_validate({"state_dir": state_dir, **PORTS})


def _cli_env(state_dir: Path, **overrides: str) -> dict[str, str]:
    env = {
        **os.environ,
        "K2_LOCAL_STATE_DIR": str(state_dir),
        **{f"K2_LOCAL_{name.upper()}": str(port) for name, port in PORTS.items()},
    }
    return {**env, **overrides}


def _k2(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "k2.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _group_running(pgid: int) -> bool:
    """Whether any process of the group still runs (an exited, unreaped one does not count)."""
    members = [p for p in psutil.process_iter(["pid"]) if _pgid(p.pid) == pgid]
    return any(p.status() != psutil.STATUS_ZOMBIE for p in members if p.is_running())


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


@pytest.fixture
def clean_state(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    LocalCloud(_settings(tmp_path)).down()


def test_up_status_down_leaves_nothing_behind(clean_state: Path) -> None:
    env = _cli_env(clean_state)
    up = _k2(["local", "up"], env)
    assert up.returncode == 0, up.stderr + up.stdout

    cloud = LocalCloud(_settings(clean_state))
    statuses = {status.name: status for status in cloud.status()}
    assert set(statuses) == set(COMPONENTS)
    assert all(status.healthy for status in statuses.values()), statuses
    pids = {name: status.pid for name, status in statuses.items()}

    status = _k2(["local", "status"], env)
    assert status.returncode == 0
    assert status.stdout.count("healthy") == len(COMPONENTS)

    again = _k2(["local", "up"], env)  # harmless: nothing restarted
    assert again.returncode == 0, again.stderr
    assert {s.name: s.pid for s in cloud.status()} == pids

    down = _k2(["local", "down"], env)
    assert down.returncode == 0, down.stderr
    for pid in pids.values():
        assert pid is not None
        assert not _group_running(pid)
    assert not any(port_is_listening(port) for port in PORTS.values())
    assert _k2(["local", "status"], env).returncode == 1


def test_down_and_up_start_kafka_empty_like_the_in_memory_aws_endpoint(clean_state: Path) -> None:
    """The AWS endpoint's state is in memory; Kafka's log is reset with it, so the topics never
    hold records framed by schema versions the new registry does not know. (A broker restart on
    its own keeps everything: tests/local/test_kafka_broker.py.)"""
    cloud = LocalCloud(_settings(clean_state))
    cloud.up()
    settings = cloud.layout.client_settings()
    topic = raw_topic(DataType.TRADES, Exchange.BINANCE)
    producer = build_producer(settings, client_id="k2-test-lifecycle")
    producer.send(topic, key=b"BTCUSDT", value=b"x").get(timeout=30)
    producer.close()
    assert sum(end_offsets(settings, [topic]).values()) == 1
    cloud.down()
    cloud.up()
    assert sum(end_offsets(settings, [topic]).values()) == 0  # provisioned again, empty
    assert all(status.healthy for status in cloud.status())


def test_busy_port_is_a_one_line_error(clean_state: Path) -> None:
    with socket.socket() as squatter:
        squatter.setsockopt(
            socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
        )  # the port may be in TIME_WAIT
        squatter.bind(("127.0.0.1", PORTS["aws_port"]))
        squatter.listen()
        result = _k2(["local", "up"], _cli_env(clean_state))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1
    assert f"port {PORTS['aws_port']}" in error_lines[0]


def test_missing_java_is_a_one_line_error(clean_state: Path) -> None:
    python_only = clean_state / "bin"
    python_only.mkdir()
    result = _k2(["local", "up"], _cli_env(clean_state, PATH=str(python_only)))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert "Java is not installed" in result.stderr
    assert not port_is_listening(PORTS["aws_port"])  # nothing was started halfway


def test_failed_download_names_the_cause(tmp_path: Path) -> None:
    from k2.local import java_artifacts

    manifests = tmp_path / "maven"
    (manifests / "missing").mkdir(parents=True)
    (manifests / "missing" / "pom.xml").write_text(
        """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
        <groupId>io.k2.test</groupId><artifactId>missing</artifactId><version>1</version>
        <packaging>pom</packaging><dependencies><dependency><groupId>io.k2.nonexistent</groupId>
        <artifactId>no-such-artifact</artifactId><version>0.0.0</version></dependency>
        </dependencies></project>"""
    )
    with pytest.raises(LocalCloudError, match=r"fetching the missing jars .*no-such-artifact"):
        java_artifacts.ensure_bundle("missing", tmp_path / "cache", manifests)
    assert not list((tmp_path / "cache").rglob(".complete"))  # nothing half-fetched counts as done


def test_env_points_a_job_at_this_cloud(tmp_path: Path) -> None:
    result = _k2(["local", "env"], _cli_env(tmp_path))
    assert result.returncode == 0, result.stderr
    exported = dict(
        line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines()
    )
    assert exported["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{PORTS['aws_port']}"
    assert exported["K2_KAFKA_BOOTSTRAP_SERVERS"] == f"127.0.0.1:{PORTS['kafka_port']}"
    assert exported["AWS_ACCESS_KEY_ID"] and exported["AWS_SECRET_ACCESS_KEY"]
