"""Reading back what an emitter sent: the EMF documents in a CloudWatch Logs group, and the
metrics the local endpoint's CloudWatch extracted from them (or was sent directly)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from k2.local.cloud import LocalCloud
from k2.local.processes import wait_until
from k2.monitoring.metrics import MetricSpec


def shipped_documents(
    cloud: LocalCloud, group: str, expected: int, timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    """The documents in ``group`` once at least ``expected`` arrived (polled, with a deadline)."""
    logs = cloud.layout.aws_client("logs")
    documents: list[dict[str, Any]] = []

    def arrived() -> bool:
        try:
            pages = list(logs.get_paginator("filter_log_events").paginate(logGroupName=group))
        except logs.exceptions.ResourceNotFoundException:
            return expected == 0
        documents[:] = [json.loads(e["message"]) for page in pages for e in page["events"]]
        return len(documents) >= expected

    assert wait_until(arrived, timeout_s), documents
    return documents


@dataclass(frozen=True)
class Statistics:
    sum: float
    samples: float
    maximum: float
    units: frozenset[str]


def statistics(
    cloud: LocalCloud,
    spec: MetricSpec,
    dimensions: Mapping[str, str],
    since: datetime,
    until: datetime,
) -> Statistics:
    """Sum, SampleCount and Maximum of the metric's datapoints from ``since`` (to the second) to
    ``until``, read with GetMetricStatistics over one-second periods so that nothing sent before
    ``since`` in the same minute is counted."""
    answer = cloud.layout.aws_client("cloudwatch").get_metric_statistics(
        Namespace=spec.namespace.value,
        MetricName=spec.name,
        Dimensions=[{"Name": name, "Value": value} for name, value in dimensions.items()],
        StartTime=since.replace(microsecond=0),
        EndTime=until,
        Period=1,
        Statistics=["Sum", "SampleCount", "Maximum"],
    )
    points: list[dict[str, Any]] = answer["Datapoints"]
    return Statistics(
        sum=sum(p["Sum"] for p in points),
        samples=sum(p["SampleCount"] for p in points),
        maximum=max((p["Maximum"] for p in points), default=0.0),
        units=frozenset(p["Unit"] for p in points),
    )
