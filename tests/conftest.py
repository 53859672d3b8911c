"""Session fixtures: one local cloud and one SparkSession for the whole test run.

The test cloud runs on its own ports and state dir, so `make test` never touches a local cloud a
developer has running for the demo.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from k2.local.cloud import LocalCloud
from k2.local.layout import LocalCloudSettings
from k2.settings import K2Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# K2_TEST_PORT_SHIFT moves them all, so two test runs can share a machine.
_SHIFT = int(os.environ.get("K2_TEST_PORT_SHIFT", "0"))
TEST_AWS_PORT = 14566 + _SHIFT
TEST_KAFKA_PORT = 19092 + _SHIFT
TEST_KAFKA_CONTROLLER_PORT = 19093 + _SHIFT
TEST_API_PORT = 14580 + _SHIFT
TEST_SIMULATOR_PORTS = {
    "binance_sim_port": 18765 + _SHIFT,
    "kraken_sim_port": 18766 + _SHIFT,
    "simulator_control_port": 18767 + _SHIFT,
}


@pytest.fixture(scope="session")
def local_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    cloud = LocalCloud(
        LocalCloudSettings.model_validate(
            {
                "state_dir": tmp_path_factory.mktemp("k2-state"),
                "aws_port": TEST_AWS_PORT,
                "kafka_port": TEST_KAFKA_PORT,
                "kafka_controller_port": TEST_KAFKA_CONTROLLER_PORT,
                "api_port": TEST_API_PORT,
                **TEST_SIMULATOR_PORTS,
            }
        )
    )
    cloud.layout.export_client_environment()  # Spark's JVM and child processes inherit it
    # The AWS endpoint inherits it: alarms are evaluated every second, not every 10 s, so a
    # test that provokes one (tests/local/test_alarms_fire.py) sees each transition promptly.
    os.environ.setdefault("K2_ALARM_EVALUATION_INTERVAL_S", "1")
    try:
        cloud.up()
        yield cloud
    finally:
        cloud.down()


@pytest.fixture(scope="session")
def k2_settings(local_cloud: LocalCloud) -> K2Settings:
    return local_cloud.layout.client_settings()


@pytest.fixture(scope="session")
def spark(k2_settings: K2Settings) -> Iterator[SparkSession]:
    from k2.jobs.spark_session import build_spark_session

    session = build_spark_session("k2-tests", k2_settings)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]
