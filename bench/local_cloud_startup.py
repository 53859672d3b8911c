"""Cold and warm `k2 local up`, and the local cloud's memory with Spark running.

    .venv/bin/python -m bench.local_cloud_startup

Cold = a new state dir (Kafka log dir formatted, everything provisioned; Java artifacts already in
the Maven cache). Warm = `up` after `down` on the same state dir. Baselines in the same run: a bare
JVM start (`java -version`) and a bare Python interpreter start, which bound what any launcher
can do on this machine.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from k2.local.cloud import COMPONENTS, LocalCloud
from k2.local.layout import LocalCloudSettings


def _seconds(action: object) -> float:
    started = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - started


def _rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        process = psutil.Process(pid)
        total += sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])
    return total / 2**20


def main() -> None:
    java = _seconds(lambda: subprocess.run(["java", "-version"], capture_output=True, check=True))
    python = _seconds(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))
    with tempfile.TemporaryDirectory() as state:
        cloud = LocalCloud(
            LocalCloudSettings(
                state_dir=Path(state), aws_port=34566, kafka_port=39092, kafka_controller_port=39093
            )
        )
        try:
            cold = _seconds(cloud.up)
            cloud.down()
            warm = _seconds(cloud.up)
            pids = [cloud.process(c).pid() or 0 for c in COMPONENTS]
            idle = _rss_mib(pids)
            cloud.layout.export_client_environment()
            from k2.jobs.spark_session import build_spark_session

            spark = build_spark_session("bench-memory", cloud.layout.client_settings())
            spark.range(2_000_000).selectExpr("sum(id)").collect()
            jvm = [p.pid for p in psutil.Process().children(recursive=True) if "java" in p.name()]
            with_spark = _rss_mib(pids + jvm)
            spark.stop()
        finally:
            cloud.down()
    print(f"baseline: bare JVM start {java:6.2f} s, bare Python start {python:6.2f} s")
    print(f"k2 local up, cold            {cold:6.2f} s  ({cold / java:5.1f}x a bare JVM start)")
    print(f"k2 local up, warm            {warm:6.2f} s  ({warm / java:5.1f}x a bare JVM start)")
    print(f"RSS, AWS endpoint + Kafka    {idle:7.0f} MiB")
    print(f"RSS, + Spark driver (local)  {with_spark:7.0f} MiB")


if __name__ == "__main__":
    main()
