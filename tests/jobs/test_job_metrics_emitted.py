"""The jobs' metrics on the test cloud: a real bronze → silver → gold run ships EMF documents to
the local CloudWatch Logs whose values match what the tables gained, counted independently.

Only this process's documents (its log stream) stamped after the run began are read, so runs
of other tests, earlier or in other processes, do not count.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from k2.aws import aws_client
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.feeds.avro_records import avro_record
from k2.feeds.binance import BinanceRawTrade
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.kafka_producer import build_producer
from k2.feeds.market_data_publisher import MarketDataPublisher
from k2.jobs.bronze import run_bronze
from k2.jobs.gold import gold_table, run_gold
from k2.jobs.silver import run_silver
from k2.lake.tables import bronze_table, silver_dlq_table, silver_table
from k2.local.monitoring_resources import METRICS_LOG_GROUP
from k2.monitoring import metrics as m
from k2.observability.emf import MetricsSettings
from k2.settings import K2Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration

EXCHANGE, DATA_TYPE = Exchange.BINANCE, DataType.TRADES
GOOD_TRADES = 5
DEADLINE_S = 60.0


def _publish(settings: K2Settings) -> None:
    """Trades silver accepts, and two it refuses for different reasons."""
    now_us = time.time_ns() // 1000
    first_id = now_us  # trade ids no other test uses: gold takes them all
    registry = GlueSchemaRegistry(aws_client("glue", settings), settings.schema_registry_name)
    producer = build_producer(settings, client_id="k2-test-job-metrics")
    try:
        publisher = MarketDataPublisher(producer, registry, EXCHANGE)
        version = publisher.prepare()["binance_raw_trade"]
        topic = raw_topic(DATA_TYPE, EXCHANGE)

        def trade(trade_id: int, price: str) -> bytes:
            record = BinanceRawTrade(
                "trade", now_us, "BTCUSDT", trade_id, price, "0.5", now_us, False, True, now_us
            )
            return registry.serialize(version, avro_record(record))

        values = [trade(first_id + i, "100.5") for i in range(GOOD_TRADES)]
        values += [trade(first_id + GOOD_TRADES, "-1"), b"not a framed record"]
        for value in values:
            producer.send(topic, key=b"BTCUSDT", value=value)
        producer.flush()
    finally:
        producer.close()


def _count(spark: SparkSession, identifier: str) -> int:
    return int(spark.table(identifier).count())


def _dlq_by_reason(spark: SparkSession, settings: K2Settings) -> Counter[tuple[str, str, str]]:
    rows = (
        spark.table(silver_dlq_table().spark_identifier(settings.glue_database))
        .groupBy("exchange", "reason_class", "reason")
        .count()
        .collect()
    )
    return Counter({(r["exchange"], r["reason_class"], r["reason"]): int(r["count"]) for r in rows})


def _table_counts(spark: SparkSession, settings: K2Settings) -> dict[str, int]:
    database = settings.glue_database
    tables = (
        bronze_table(EXCHANGE, DATA_TYPE),
        silver_table(EXCHANGE, DATA_TYPE),
        silver_dlq_table(),
        gold_table(DATA_TYPE),
    )
    return {table.name: _count(spark, table.spark_identifier(database)) for table in tables}


def _documents(settings: K2Settings, since_ms: int) -> Iterator[dict[str, Any]]:
    """This process's job documents in the metrics log group, stamped at or after ``since_ms``."""
    logs = aws_client("logs", settings)
    stream = f"{m.JOBS_SERVICE}/{socket.gethostname()}-{os.getpid()}"
    token: str | None = None
    while True:
        page = logs.get_log_events(
            logGroupName=METRICS_LOG_GROUP,
            logStreamName=stream,
            startFromHead=True,
            **({"nextToken": token} if token else {}),
        )
        for event in page["events"]:
            document = json.loads(event["message"])
            if document["_aws"]["Timestamp"] >= since_ms:
                yield document
        if page["nextForwardToken"] == token or not page["events"]:
            return
        token = page["nextForwardToken"]


def _sums(documents: list[dict[str, Any]], spec: m.MetricSpec) -> Counter[tuple[str, ...]]:
    """Per value of the spec's open dimensions, the sum of the spec's values; every document
    declaring the metric must declare it as catalogued."""
    sums: Counter[tuple[str, ...]] = Counter()
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                if metric["Name"] != spec.name:
                    continue
                assert directive["Namespace"] == spec.namespace.value
                assert metric["Unit"] == spec.unit.value
                assert [set(names) for names in directive["Dimensions"]] == [
                    set(spec.dimension_names)
                ]
                for dimension in spec.dimensions:
                    if dimension.value is not None:
                        assert document[dimension.name] == dimension.value
                values = document[spec.name]
                total = sum(values) if isinstance(values, list) else values
                sums[tuple(document[name] for name in spec.open_dimensions)] += total
    return sums


def _cloudwatch_total(
    settings: K2Settings, spec: m.MetricSpec, since_ms: int, statistic: str, **dimensions: str
) -> float | None:
    """The statistic over one-second periods since ``since_ms`` (summed for Sum, the largest
    for Maximum), or None without datapoints: what CloudWatch made of the documents."""
    fixed = {d.name: str(d.value) for d in spec.dimensions if d.value is not None}
    response = aws_client("cloudwatch", settings).get_metric_statistics(
        Namespace=spec.namespace.value,
        MetricName=spec.name,
        Dimensions=[{"Name": k, "Value": v} for k, v in {**fixed, **dimensions}.items()],
        StartTime=datetime.fromtimestamp(since_ms // 1000, UTC),
        EndTime=datetime.now(UTC) + timedelta(minutes=1),
        Period=1,
        Statistics=[statistic],
    )
    values = [point[statistic] for point in response["Datapoints"]]
    if not values:
        return None
    return float(sum(values) if statistic == "Sum" else max(values))


def test_a_run_reports_what_it_committed(spark: SparkSession, k2_settings: K2Settings) -> None:
    assert MetricsSettings().log_group == METRICS_LOG_GROUP  # the test cloud ships documents
    # Catch up first, so the run below has exactly our records (and whatever else is new).
    run_bronze(spark, k2_settings, EXCHANGE, DATA_TYPE)
    run_silver(spark, k2_settings, EXCHANGE, DATA_TYPE)
    run_gold(spark, k2_settings, DATA_TYPE)
    before, dlq_before = _table_counts(spark, k2_settings), _dlq_by_reason(spark, k2_settings)
    _publish(k2_settings)
    began_ms = int(time.time() * 1000)

    run_bronze(spark, k2_settings, EXCHANGE, DATA_TYPE)
    run_silver(spark, k2_settings, EXCHANGE, DATA_TYPE)
    run_gold(spark, k2_settings, DATA_TYPE)

    after, dlq_after = _table_counts(spark, k2_settings), _dlq_by_reason(spark, k2_settings)
    gained = {name: after[name] - before[name] for name in after}
    assert gained[bronze_table(EXCHANGE, DATA_TYPE).name] == GOOD_TRADES + 2
    assert gained[gold_table(DATA_TYPE).name] == GOOD_TRADES
    dlq_gained = dlq_after - dlq_before
    assert sum(dlq_gained.values()) == 2
    expected_rows = Counter(
        {
            ("bronze", bronze_table(EXCHANGE, DATA_TYPE).name): gained[
                bronze_table(EXCHANGE, DATA_TYPE).name
            ],
            ("silver", silver_table(EXCHANGE, DATA_TYPE).name): gained[
                silver_table(EXCHANGE, DATA_TYPE).name
            ],
            ("silver", silver_dlq_table().name): gained[silver_dlq_table().name],
            ("gold", gold_table(DATA_TYPE).name): gained[gold_table(DATA_TYPE).name],
        }
    )

    deadline = time.monotonic() + DEADLINE_S
    while True:
        documents = list(_documents(k2_settings, began_ms))
        rows_written = _sums(documents, m.ROWS_WRITTEN)
        if rows_written == expected_rows or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert rows_written == expected_rows
    assert set(_sums(documents, m.BATCH_DURATION)) == set(expected_rows)
    assert all(duration > 0 for duration in _sums(documents, m.BATCH_DURATION).values())

    lag = _sums(documents, m.CONSUMER_LAG)
    assert set(lag) == {("bronze", raw_topic(DATA_TYPE, EXCHANGE))}
    assert all(value >= 0 for value in lag.values())

    assert _sums(documents, m.SILVER_DEAD_LETTERS) == Counter(
        {(EXCHANGE.value,): sum(dlq_gained.values())}
    )
    assert _sums(documents, m.SILVER_DEAD_LETTERS_BY_REASON) == dlq_gained

    # The local CloudWatch extracted the same values from the documents.
    for (job, table), rows in expected_rows.items():
        total = _cloudwatch_total(
            k2_settings, m.ROWS_WRITTEN, began_ms, "Sum", job=job, table=table
        )
        assert total == rows, (job, table)
        longest = _cloudwatch_total(
            k2_settings, m.BATCH_DURATION, began_ms, "Maximum", job=job, table=table
        )
        assert longest is not None and longest > 0
    for (exchange, reason_class, reason), rows in dlq_gained.items():
        total = _cloudwatch_total(
            k2_settings,
            m.SILVER_DEAD_LETTERS_BY_REASON,
            began_ms,
            "Sum",
            exchange=exchange,
            reason_class=reason_class,
            reason=reason,
        )
        assert total == rows
    dead_letters = _cloudwatch_total(
        k2_settings, m.SILVER_DEAD_LETTERS, began_ms, "Sum", exchange=EXCHANGE.value
    )
    assert dead_letters == sum(dlq_gained.values())
    highest_lag = _cloudwatch_total(
        k2_settings,
        m.CONSUMER_LAG,
        began_ms,
        "Maximum",
        job="bronze",
        topic=raw_topic(DATA_TYPE, EXCHANGE),
    )
    assert highest_lag is not None and highest_lag >= 0
