"""The local CloudWatch's samples, indexed by metric for GetMetricData and the alarm evaluator.

Moto keeps every datum in one list per account and region; this index groups them by
:class:`~k2.monitoring.metric_search.MetricIdentity` (namespace, name, full dimension set) as
:class:`~k2.monitoring.metric_statistics.Sample` values, extended incrementally as moto appends.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from moto.cloudwatch.models import (
    CloudWatchBackend,
    MetricAggregatedDatum,
    MetricDatum,
    MetricDatumBase,
)

from k2.monitoring.metric_math import MetricStore
from k2.monitoring.metric_search import MetricIdentity
from k2.monitoring.metric_statistics import Sample

# -- time -----------------------------------------------------------------------------------------


def epoch(moment: datetime) -> float:
    """Moto keeps naive UTC datetimes."""
    return moment.replace(tzinfo=UTC).timestamp() if moment.tzinfo is None else moment.timestamp()


def naive(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC).replace(tzinfo=None)


# -- the metric store -----------------------------------------------------------------------------


def _samples(datum: MetricDatumBase) -> list[Sample]:
    timestamp, unit = epoch(datum.timestamp), datum.unit or "None"
    if isinstance(datum, MetricDatum):
        return [Sample(timestamp, float(datum.value), unit)]
    if isinstance(datum, MetricAggregatedDatum):
        # A statistic set: samples that keep its count, sum, minimum and maximum exactly
        # (percentiles of it are an approximation, as in CloudWatch).
        count = max(1, round(float(datum.sample_count)))
        if count == 1:
            return [Sample(timestamp, float(datum.sum), unit)]
        middle = (float(datum.sum) - datum.min - datum.max) / (count - 2) if count > 2 else 0.0
        values = [datum.min, datum.max] + [middle] * (count - 2)
        return [Sample(timestamp, float(value), unit) for value in values]
    return []


def _identity(datum: MetricDatumBase) -> MetricIdentity:
    return MetricIdentity.of(
        datum.namespace,
        datum.name,
        ((str(d.name), str(d.value)) for d in datum.dimensions),
    )


class _MetricIndex:
    """Samples by metric for one backend, extended incrementally: moto only appends to
    ``metric_data``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen = 0
        self.samples: dict[MetricIdentity, list[Sample]] = {}

    def store(self, backend: CloudWatchBackend, *, service_metrics: bool) -> MetricStore:
        with self.lock:
            data = backend.metric_data
            if len(data) < self.seen:  # reset: start again
                self.seen, self.samples = 0, {}
            for datum in data[self.seen : len(data)]:
                self.samples.setdefault(_identity(datum), []).extend(_samples(datum))
            self.seen = len(data)
            snapshot = {identity: list(samples) for identity, samples in self.samples.items()}
        if service_metrics:
            try:  # computed on the fly by other services (S3 bucket sizes), unlocked
                computed = backend.aws_metric_data
            except RuntimeError:  # a bucket changed while it was being measured
                computed = []
            for datum in computed:
                snapshot.setdefault(_identity(datum), []).extend(_samples(datum))
        return snapshot


_indexes_lock = threading.Lock()


def metric_store(backend: CloudWatchBackend, *, service_metrics: bool = True) -> MetricStore:
    """Every sample of the backend by metric. ``service_metrics`` adds what moto computes for
    other services on each call (S3 storage metrics): requests see them, the alarm evaluator
    skips them (walking every object of the lake every few seconds is not worth it)."""
    with _indexes_lock:
        index: _MetricIndex = backend.__dict__.setdefault("_k2_metric_index", _MetricIndex())
    return index.store(backend, service_metrics=service_metrics)
