"""Every layer's streams in one Spark application, continuously: the local pipeline.

In AWS each job is its own Glue job on a schedule; on one small machine a single application
(one JVM, one driver heap) running all the streams with processing-time triggers keeps bronze,
silver and gold fresh within a fixed memory budget. ``python -m k2.jobs.pipeline`` runs it until
SIGTERM, when every query is stopped between micro-batches. Beside the streams, a thread
brings the OHLCV bars up to date with gold every ``--ohlcv-every`` seconds (in AWS, a job
scheduled every 5 minutes).
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from pyspark.sql import SparkSession
from pyspark.sql.streaming.query import StreamingQuery

from k2.domain.markets import DataType, Exchange
from k2.jobs.bronze import Trigger, start_bronze
from k2.jobs.gold import start_gold
from k2.jobs.ohlcv import run_ohlcv
from k2.jobs.silver import start_silver
from k2.jobs.spark_session import build_spark_session
from k2.settings import K2Settings

log = logging.getLogger(__name__)


def start_pipeline(
    spark: SparkSession, settings: K2Settings, processing_interval: str
) -> list[StreamingQuery]:
    """Start bronze and silver for every exchange and data type, and gold for both types."""
    continuous = Trigger.CONTINUOUS
    queries: list[StreamingQuery] = []
    pairs = [(exchange, data_type) for exchange in Exchange for data_type in DataType]
    for exchange, data_type in pairs:
        queries.append(
            start_bronze(spark, settings, exchange, data_type, continuous, processing_interval)
        )
    for exchange, data_type in pairs:
        queries.extend(
            start_silver(spark, settings, exchange, data_type, continuous, processing_interval)
        )
    for data_type in DataType:
        queries.append(start_gold(spark, settings, data_type, continuous, processing_interval))
    return queries


def keep_bars_fresh(
    spark: SparkSession,
    settings: K2Settings,
    every_s: float,
    stopping: threading.Event,
    on_failure: Callable[[str], None] = lambda _job: None,
) -> None:
    """Run the OHLCV job every ``every_s`` seconds until ``stopping``; a failed run is logged,
    told to ``on_failure`` (as a failed job run) and retried on the next tick (each run
    recomputes from its last finished snapshot)."""
    while not stopping.wait(every_s):
        try:
            run_ohlcv(spark, settings)
        except Exception:
            if stopping.is_set():
                return
            log.exception("ohlcv run failed; retrying in %.0f s", every_s)
            on_failure("ohlcv")


def main(
    argv: list[str] | None = None, on_failure: Callable[[str], None] = lambda _job: None
) -> None:
    """Run the pipeline until SIGTERM; a failed OHLCV run (retried) is told to ``on_failure``,
    a failed stream ends the pipeline with an error."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--interval",
        default="30 seconds",
        help="processing-time trigger; 14 streams share 2 cores locally, so not too often",
    )
    parser.add_argument(
        "--ohlcv-every",
        type=float,
        default=60.0,
        help="seconds between OHLCV runs (0: no OHLCV runs)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    settings = K2Settings()
    spark = build_spark_session("k2-local-pipeline", settings)
    stopping = threading.Event()

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: stopping every query", signum)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    queries = start_pipeline(spark, settings, args.interval)
    log.info("pipeline running: %s", ", ".join(q.name or "?" for q in queries))
    if args.ohlcv_every > 0:
        bars = threading.Thread(
            target=keep_bars_fresh,
            args=(spark, settings, args.ohlcv_every, stopping, on_failure),
            name="ohlcv",
            daemon=True,
        )
        bars.start()
    while not stopping.wait(5.0):
        failed = [q for q in queries if not q.isActive]
        if failed:
            for query in queries:
                query.stop()
            raise RuntimeError(f"query {failed[0].name} stopped: {failed[0].exception()}")
    for query in queries:
        query.stop()
    spark.stop()


if __name__ == "__main__":
    main()
