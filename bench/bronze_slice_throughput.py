"""Records per second through the foundation slice's bronze job (Kafka → Spark → Iceberg).

    .venv/bin/python -m bench.bronze_slice_throughput [--records 100000]

Needs `k2 local up`. Publishes N Binance trades, then times one `availableNow` bronze run (a warm
SparkSession: the first, untimed run builds it). Baseline in the same run: kafka-python reading
the same N records from the same topic into memory, i.e. the rate of just getting the bytes.
"""

from __future__ import annotations

import argparse
import time

from kafka import KafkaConsumer

from k2.domain.markets import DataType, Exchange, raw_topic
from k2.jobs.bronze import run_bronze
from k2.jobs.spark_session import build_spark_session
from k2.local.binance_trade_generator import binance_trades, publish_binance_trades
from k2.local.cloud import LocalCloud


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    cloud = LocalCloud()
    cloud.layout.export_client_environment()
    settings = cloud.layout.client_settings()
    spark = build_spark_session("bench-bronze", settings)
    run_bronze(spark, settings, Exchange.BINANCE, DataType.TRADES)  # warm up, drain the backlog

    published = publish_binance_trades(settings, binance_trades(args.records, seed=11))
    started = time.perf_counter()
    result = run_bronze(spark, settings, Exchange.BINANCE, DataType.TRADES)
    bronze_s = time.perf_counter() - started
    assert result.rows_appended == len(published), result

    consumer = KafkaConsumer(
        raw_topic(DataType.TRADES, Exchange.BINANCE),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5_000,
        fetch_max_bytes=64 * 2**20,
    )
    started = time.perf_counter()
    read = 0
    for _ in consumer:
        read += 1
        if read == args.records:
            break
    kafka_s = time.perf_counter() - started
    consumer.close()
    print(f"records: {args.records}")
    print(f"baseline: kafka-python read   {read / kafka_s:10.0f} records/s")
    print(
        f"bronze job (availableNow)     {result.rows_appended / bronze_s:10.0f} records/s"
        f"  ({kafka_s / bronze_s:.2f}x the baseline)"
    )


if __name__ == "__main__":
    main()
