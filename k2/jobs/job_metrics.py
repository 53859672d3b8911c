"""The Spark jobs' metrics, worked out from what a batch reports: pure, so tested without Spark.

A streaming batch reports itself in Spark's progress document (``StreamingQueryProgress.json``):
rows the sink committed, the trigger's wall time, each source's end and latest offsets, and the
query's observed metrics. A MERGE batch (gold, OHLCV) reports nothing of the sort, so its rows
are read from the Iceberg snapshots it committed. Both become :class:`MetricDatum` values of the
catalogued metrics (:mod:`k2.monitoring.metrics`), which the Spark side
(:mod:`k2.jobs.job_metrics_listener`) writes as EMF documents.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from k2.domain.markets import Exchange
from k2.domain.validation import REASON_CODES, ReasonClass, ReasonCode
from k2.monitoring import metrics as m

DEAD_LETTERS_OBSERVED = "silver_dead_letters"
"""The name of the observed metrics (``DataFrame.observe``) of silver's DLQ query."""
DEAD_LETTER_ROWS = "rows"
"""The observed column counting every DLQ row of the batch, whatever its reason."""

_NOT_COUNTED = -1
"""Spark's ``numOutputRows`` for a sink that does not count (``foreachBatch``)."""
_REWRITE = "replace"
"""The Iceberg snapshot operation of compaction: rows rewritten, none committed."""


class Job(StrEnum):
    """The ``job`` dimension: which layer's job wrote the rows."""

    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"
    OHLCV = "ohlcv"


@dataclass(frozen=True)
class QueryTarget:
    """What one streaming query writes, so its progress can be named in metrics."""

    job: Job
    table: str
    """The Iceberg table's name (``bronze_binance_trades``, ``silver_dlq``...)."""
    dead_letters_of: Exchange | None = None
    """Set on silver's DLQ query: the exchange whose refused records it counts by reason."""


@dataclass(frozen=True)
class MetricDatum:
    """One value of a catalogued metric, with the values of its open dimensions."""

    spec: m.MetricSpec
    dimensions: tuple[tuple[str, str], ...]
    value: float
    timestamp_ms: int

    def __post_init__(self) -> None:
        names = tuple(name for name, _ in self.dimensions)
        if names != self.spec.open_dimensions:
            raise ValueError(f"{self.spec.name} takes {self.spec.open_dimensions}, not {names}")


def _datum(spec: m.MetricSpec, value: float, timestamp_ms: int, **dimensions: str) -> MetricDatum:
    ordered = tuple((name, dimensions[name]) for name in spec.open_dimensions)
    return MetricDatum(spec, ordered, value, timestamp_ms)


# --- streaming progress ----------------------------------------------------------------------


def progress_timestamp_ms(progress: Mapping[str, Any]) -> int:
    """When the batch's trigger fired (Spark writes ``2026-11-26T18:46:37.428Z``)."""
    moment = datetime.fromisoformat(str(progress["timestamp"]).replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


def batch_ran(progress: Mapping[str, Any]) -> bool:
    """Whether the progress reports a batch that ran (an idle trigger has no ``addBatch``)."""
    return "addBatch" in progress.get("durationMs", {})


def batch_duration_ms(progress: Mapping[str, Any]) -> int:
    """The whole trigger: offsets, planning, the write and the Iceberg commit, the checkpoint."""
    return int(progress["durationMs"]["triggerExecution"])


def rows_committed(progress: Mapping[str, Any]) -> int | None:
    """Rows the sink committed, or None when the sink does not count them (``foreachBatch``)."""
    rows = int((progress.get("sink") or {}).get("numOutputRows", _NOT_COUNTED))
    return None if rows < 0 else rows


def _offsets(value: object) -> Mapping[str, Mapping[str, int]]:
    """A Kafka source's offsets, ``{topic: {partition: offset}}``; anything else is empty."""
    if not isinstance(value, Mapping):
        return {}
    return {
        topic: partitions
        for topic, partitions in value.items()
        if isinstance(partitions, Mapping)
        and all(isinstance(offset, int) for offset in partitions.values())
    }


def records_behind(progress: Mapping[str, Any]) -> dict[str, int]:
    """Per Kafka topic read: records between the batch's end offsets and the topic's end.

    Spark fetches the latest offsets when it plans the batch; with ``maxOffsetsPerTrigger`` the
    batch may stop short of them, and that remainder is what the next batches still have to read.
    Sources that are not Kafka (Iceberg streaming reads) report no topic offsets and count nothing.
    """
    behind: Counter[str] = Counter()
    for source in progress.get("sources", ()):
        end, latest = _offsets(source.get("endOffset")), _offsets(source.get("latestOffset"))
        for topic, partitions in latest.items():
            ended = end.get(topic, {})
            behind[topic] += sum(
                max(0, offset - ended.get(partition, 0)) for partition, offset in partitions.items()
            )
    return dict(behind)


# --- silver's dead letters -------------------------------------------------------------------

DEAD_LETTER_REASONS: tuple[tuple[ReasonClass, ReasonCode], ...] = tuple(
    sorted(
        ((reason_class, code) for reason_class, codes in REASON_CODES.items() for code in codes),
        key=lambda pair: (pair[0].value, pair[1].value),
    )
)
"""Every (reason class, reason) a ``silver_dlq`` row can carry."""


def reason_column(reason_class: ReasonClass, reason: ReasonCode) -> str:
    """The observed column counting one reason's DLQ rows."""
    return f"{reason_class.value}__{reason.value}"


def dead_letter_counts(observed: Mapping[str, Any]) -> tuple[int, dict[tuple[str, str], int]]:
    """A DLQ batch's observed metrics → (rows, rows per (reason class, reason)), zeros left out."""
    by_reason = {
        (reason_class.value, reason.value): int(
            observed.get(reason_column(reason_class, reason)) or 0
        )
        for reason_class, reason in DEAD_LETTER_REASONS
    }
    total = int(observed.get(DEAD_LETTER_ROWS) or 0)
    return total, {key: rows for key, rows in by_reason.items() if rows}


# --- progress → datums -----------------------------------------------------------------------


def progress_datums(target: QueryTarget, progress: Mapping[str, Any]) -> list[MetricDatum]:
    """What one streaming batch reports: rows and duration per table, consumer lag per topic
    (bronze), dead letters per exchange and by reason (silver's DLQ query); nothing for an idle
    trigger."""
    if not batch_ran(progress):
        return []
    at = progress_timestamp_ms(progress)
    job, table = target.job.value, target.table
    datums = [_datum(m.BATCH_DURATION, batch_duration_ms(progress), at, job=job, table=table)]
    rows = rows_committed(progress)
    if rows is not None:
        datums.append(_datum(m.ROWS_WRITTEN, rows, at, job=job, table=table))
    if target.job is Job.BRONZE:
        datums += [
            _datum(m.CONSUMER_LAG, lag, at, job=job, topic=topic)
            for topic, lag in sorted(records_behind(progress).items())
        ]
    if target.dead_letters_of is not None:
        observed = (progress.get("observedMetrics") or {}).get(DEAD_LETTERS_OBSERVED)
        if observed is not None:
            datums += dead_letter_datums(target.dead_letters_of, observed, at)
    return datums


def dead_letter_datums(
    exchange: Exchange, observed: Mapping[str, Any], timestamp_ms: int
) -> list[MetricDatum]:
    """SilverDeadLetters for the exchange (zero included: the DLQ alarm sums it), and
    SilverDeadLettersByReason for each reason the batch saw."""
    total, by_reason = dead_letter_counts(observed)
    datums = [_datum(m.SILVER_DEAD_LETTERS, total, timestamp_ms, exchange=exchange.value)]
    datums += [
        _datum(
            m.SILVER_DEAD_LETTERS_BY_REASON,
            rows,
            timestamp_ms,
            exchange=exchange.value,
            reason_class=reason_class,
            reason=reason,
        )
        for (reason_class, reason), rows in sorted(by_reason.items())
    ]
    return datums


# --- MERGE batches ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CommittedSnapshot:
    """What an Iceberg snapshot says of itself (the ``snapshots`` metadata table)."""

    snapshot_id: int
    operation: str | None
    summary: Mapping[str, str]


def added_records(snapshots: Iterable[CommittedSnapshot]) -> int:
    """Rows the snapshots committed: their ``added-records``, compaction's rewrites left out."""
    return sum(
        int(snapshot.summary.get("added-records", 0))
        for snapshot in snapshots
        if snapshot.operation != _REWRITE
    )


def merge_datums(
    job: Job, table: str, rows: int, timestamp_ms: int, duration_ms: float | None = None
) -> list[MetricDatum]:
    """A MERGE batch's rows committed to ``table``, and its wall time when the MERGE is the
    whole batch (a streaming batch's time comes from its progress instead)."""
    datums = [_datum(m.ROWS_WRITTEN, rows, timestamp_ms, job=job.value, table=table)]
    if duration_ms is not None:
        datums.append(
            _datum(m.BATCH_DURATION, duration_ms, timestamp_ms, job=job.value, table=table)
        )
    return datums


@dataclass(frozen=True)
class EmfDocument:
    """Datums written as one EMF document: an EMF document gives every metric in it the same
    dimensions and time, so datums differing in either go to separate documents."""

    dimensions: tuple[tuple[str, str], ...]
    """Every dimension, the fixed ones (``service``) first."""
    timestamp_ms: int
    datums: tuple[MetricDatum, ...]


def _all_dimensions(datum: MetricDatum) -> tuple[tuple[str, str], ...]:
    fixed = tuple(
        (dimension.name, str(dimension.value))
        for dimension in datum.spec.dimensions
        if isinstance(dimension.value, str) and not isinstance(dimension.value, m.Resource)
    )
    return (*fixed, *datum.dimensions)


def emf_documents(datums: Iterable[MetricDatum]) -> list[EmfDocument]:
    """Datums grouped into documents by dimensions and time, in the order first seen."""
    groups: dict[tuple[tuple[tuple[str, str], ...], int], list[MetricDatum]] = {}
    for datum in datums:
        if datum.spec.namespace is not m.Namespace.K2:
            raise ValueError(f"{datum.spec.name} is not one of K2's own metrics")
        groups.setdefault((_all_dimensions(datum), datum.timestamp_ms), []).append(datum)
    return [
        EmfDocument(dimensions, timestamp_ms, tuple(group))
        for (dimensions, timestamp_ms), group in groups.items()
    ]
