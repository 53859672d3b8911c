"""``k2 feed`` as the Fargate task runs it: a process that drains and flushes on SIGTERM.

It runs against the test cloud's own exchange simulator (started by ``k2 local up`` code in the
session fixture) with the environment ``k2 local env`` would print.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import pytest

from k2.aws import aws_client
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.topic_reader import end_offsets, read_between
from k2.local.cloud import LocalCloud
from k2.local.feed_reconciliation import published_trade, read_ground_truth, reconcile

pytestmark = pytest.mark.integration


def _k2_feed(cloud: LocalCloud, *args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        **cloud.layout.client_environment(),
        "K2_FEED_METRICS_INTERVAL_S": "1",
        # Other tests publish the same symbols from other simulated markets.
        "K2_FEED_RESUME_FROM_KAFKA": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "k2.cli", "feed", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _json_lines(text: str) -> list[dict[str, Any]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_sigterm_drains_and_flushes_every_trade_it_received(local_cloud: LocalCloud) -> None:
    settings = local_cloud.layout.client_settings()
    topic = raw_topic(DataType.TRADES, Exchange.BINANCE)
    start = end_offsets(settings, [topic])
    process = _k2_feed(local_cloud, "--exchange", "binance")
    time.sleep(6)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 0, stderr[-2000:]
    logs = _json_lines(stdout)
    stopped = [line for line in logs if line.get("message") == "feed handler stopped"]
    assert len(stopped) == 1, stdout[-2000:]
    counters = stopped[0]["counters"]
    registry = GlueSchemaRegistry(aws_client("glue", settings), settings.schema_registry_name)
    published = [
        published_trade(Exchange.BINANCE, registry.deserialize(record.value)[1])
        for record in read_between(settings, start)
    ]
    # Everything the handler counted as published was in Kafka when the process exited...
    assert counters["trades_published"] == len(published) > 0
    # ...and it is exactly what the simulator made over that window.
    results = reconcile(read_ground_truth(local_cloud.layout.simulator_ground_truth), published)
    assert [r.symbol for r in results] == ["BTCUSDT", "ETHUSDT"]
    assert all(r.exact for r in results), results
    # Metrics went out as CloudWatch embedded-metric documents.
    emf = [line for line in logs if "_aws" in line]
    assert emf and emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "K2"
    reported = sum(sum(line.get("TradesPublished", [])) for line in emf)
    assert reported == counters["trades_published"]


def test_an_unknown_exchange_is_a_clear_configuration_error(local_cloud: LocalCloud) -> None:
    process = _k2_feed(local_cloud, "--exchange", "coinbase")
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 2
    assert "invalid feed configuration" in stderr
    assert "coinbase" in stderr


def test_an_unknown_symbol_is_refused_before_connecting(local_cloud: LocalCloud) -> None:
    env_symbols = {"K2_FEED_BINANCE_SYMBOLS": "BTCUSDT,NOTAPAIR"}
    os.environ.update(env_symbols)
    try:
        process = _k2_feed(local_cloud, "--exchange", "binance")
        _, stderr = process.communicate(timeout=60)
    finally:
        for key in env_symbols:
            os.environ.pop(key)

    assert process.returncode == 2
    assert "invalid feed configuration" in stderr
    assert "NOTAPAIR" in stderr
