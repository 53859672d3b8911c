"""The Spark side of the jobs' metrics: a streaming listener on the driver, MERGE commits read
back, and the EMF documents written.

One :class:`JobMetricsListener` per SparkSession hears every batch of every streaming query the
jobs start; a query is named in metrics only if its job said beforehand what it writes
(:func:`expect_query`), by query name, so the first batch cannot arrive before its target. Spark
delivers listener events on its own thread after the batch, so a job that stops right after
its queries (availableNow) waits for them with :meth:`JobMetricsListener.await_reported`.

Metrics must never fail a job: an error while computing or writing them is logged and dropped.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from pyspark.sql import SparkSession
from pyspark.sql.streaming.listener import (
    QueryIdleEvent,
    QueryProgressEvent,
    QueryStartedEvent,
    QueryTerminatedEvent,
    StreamingQueryListener,
)
from pyspark.sql.streaming.query import StreamingQuery

from k2.jobs.job_metrics import (
    CommittedSnapshot,
    Job,
    MetricDatum,
    QueryTarget,
    added_records,
    emf_documents,
    merge_datums,
    progress_datums,
)
from k2.lake.table_definition import TableDefinition
from k2.monitoring.metrics import JOBS_SERVICE
from k2.observability.emf import emf_metrics

log = logging.getLogger(__name__)

REPORT_TIMEOUT_S = 60.0
"""How long a finished job waits for the listener to hear its queries' last batches."""

T = TypeVar("T")


def publish(datums: Iterable[MetricDatum]) -> None:
    """Write the datums as EMF documents (stdout, and the local CloudWatch when configured)."""
    for document in emf_documents(datums):
        dimensions = dict(document.dimensions)
        metrics = emf_metrics(dimensions.pop("service", JOBS_SERVICE))
        for name, value in dimensions.items():
            # One dimension set: ``add_dimensions`` would declare a second one.
            metrics.add_dimension(name=name, value=value)
        for datum in document.datums:
            metrics.add_metric(
                name=datum.spec.name, unit=MetricUnit(datum.spec.unit.value), value=datum.value
            )
        metrics.set_timestamp(document.timestamp_ms)
        metrics.flush_metrics()


class JobMetricsListener(StreamingQueryListener):
    """Turns each finished batch of an expected query into metric datums, and publishes them."""

    def __init__(self, publish: Callable[[Iterable[MetricDatum]], None] = publish) -> None:
        self._publish = publish
        self._targets: dict[str, QueryTarget] = {}
        self._terminated: set[str] = set()
        self._changed = threading.Condition()

    def expect(self, query_name: str, target: QueryTarget) -> None:
        with self._changed:
            self._targets[query_name] = target

    def onQueryStarted(self, event: QueryStartedEvent) -> None:  # noqa: N802 (Spark's name)
        pass

    def onQueryProgress(self, event: QueryProgressEvent) -> None:  # noqa: N802
        try:
            progress: dict[str, Any] = json.loads(event.progress.json)
            with self._changed:
                target = self._targets.get(str(progress.get("name")))
            if target is not None:
                self._publish(progress_datums(target, progress))
        except Exception:
            log.warning("could not report the batch's metrics", exc_info=True)

    def onQueryIdle(self, event: QueryIdleEvent) -> None:  # noqa: N802
        pass

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:  # noqa: N802
        with self._changed:
            self._terminated.add(str(event.id))
            self._changed.notify_all()

    def await_reported(self, query: StreamingQuery, timeout_s: float = REPORT_TIMEOUT_S) -> bool:
        """Wait until the listener has heard the stopped ``query`` end (Spark sends a query's
        events in order, so its batches have been reported by then); False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while str(query.id) not in self._terminated:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.warning("metrics of query %s not reported in time", query.name)
                    return False
                self._changed.wait(remaining)
            return True


_listeners: weakref.WeakKeyDictionary[SparkSession, JobMetricsListener] = (
    weakref.WeakKeyDictionary()
)
_listeners_lock = threading.Lock()


def job_metrics_listener(spark: SparkSession) -> JobMetricsListener:
    """The session's listener, added to its streaming query manager on first use."""
    with _listeners_lock:
        listener = _listeners.get(spark)
        if listener is None:
            listener = JobMetricsListener()
            spark.streams.addListener(listener)
            _listeners[spark] = listener
        return listener


def expect_query(spark: SparkSession, query_name: str, target: QueryTarget) -> None:
    """Say what the query about to start writes, so its batches are reported."""
    job_metrics_listener(spark).expect(query_name, target)


def await_reported(spark: SparkSession, *queries: StreamingQuery) -> None:
    """Wait, within :data:`REPORT_TIMEOUT_S` overall, for the stopped queries' last metrics."""
    listener = job_metrics_listener(spark)
    deadline = time.monotonic() + REPORT_TIMEOUT_S
    for query in queries:
        listener.await_reported(query, max(0.0, deadline - time.monotonic()))


# --- MERGE batches ---------------------------------------------------------------------------


def _snapshots(spark: SparkSession, identifier: str) -> list[CommittedSnapshot]:
    """The table's snapshots, from Iceberg's ``snapshots`` metadata table."""
    snapshots = spark.table(f"{identifier}.snapshots")
    rows = snapshots.select("snapshot_id", "operation", "summary").collect()
    return [
        CommittedSnapshot(row["snapshot_id"], row["operation"], dict(row["summary"] or {}))
        for row in rows
    ]


def reporting_merge(
    spark: SparkSession,
    job: Job,
    table: TableDefinition,
    database: str,
    merge: Callable[[], T],
    *,
    timed: bool,
) -> T:
    """Run a MERGE into ``table`` and report the rows it committed, read from the snapshots it
    added, and (``timed``: the MERGE is the whole batch) its wall time.

    Only the job itself commits rows to its table (maintenance commits ``replace`` snapshots,
    which are not counted), so every new snapshot is this MERGE's.
    """
    identifier = table.spark_identifier(database)
    try:
        before = {snapshot.snapshot_id for snapshot in _snapshots(spark, identifier)}
    except Exception:
        log.warning("could not read %s's snapshots; its MERGE goes unreported", identifier)
        return merge()
    began_ms, began = int(time.time() * 1000), time.monotonic()
    result = merge()
    duration_ms = (time.monotonic() - began) * 1000 if timed else None
    try:
        added = [s for s in _snapshots(spark, identifier) if s.snapshot_id not in before]
        publish(merge_datums(job, table.name, added_records(added), began_ms, duration_ms))
    except Exception:
        log.warning("could not report the MERGE into %s", identifier, exc_info=True)
    return result
