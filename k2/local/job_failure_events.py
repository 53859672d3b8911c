"""What EventBridge would count when a job run fails, for the jobs the local cloud runs.

In AWS, Glue (or EMR Serverless) publishes a state-change event for every job run and the rule
:func:`k2.monitoring.alarms.job_failure_rule` matches the failed ones; EventBridge then counts
the match as ``AWS/Events`` ``TriggeredRules`` for that rule, which the spark-job-failed alarm
reads. The local cloud has no EventBridge, so its job runners (the demo's lake step, the
continuous pipeline) wrap each run in :func:`reporting_failure`, which publishes that count with
``PutMetricData`` when the run raises. Nothing here runs in AWS.

``python -m k2.local.job_failure_events pipeline [pipeline arguments]`` runs the local
pipeline (:mod:`k2.jobs.pipeline`) that way.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from k2.aws import aws_client
from k2.local.monitoring_resources import local_resources
from k2.monitoring.metrics import JOB_FAILURE_EVENTS, Resource, Resources
from k2.settings import K2Settings

log = logging.getLogger(__name__)


def triggered_rules_datum(resources: Resources, at: datetime) -> dict[str, Any]:
    """One rule match, as EventBridge reports it: the catalogued metric, its rule dimension
    resolved to the local rule's name."""
    dimensions = []
    for dimension in JOB_FAILURE_EVENTS.dimensions:
        value = dimension.value
        if value is None:
            raise ValueError(f"{JOB_FAILURE_EVENTS.name}: open dimension {dimension.name}")
        resolved = resources[value] if isinstance(value, Resource) else value
        dimensions.append({"Name": dimension.name, "Value": resolved})
    return {
        "MetricName": JOB_FAILURE_EVENTS.name,
        "Dimensions": dimensions,
        "Timestamp": at,
        "Value": 1.0,
        "Unit": JOB_FAILURE_EVENTS.unit.value,
    }


def publish_job_failure(settings: K2Settings, job: str, at: datetime | None = None) -> None:
    """Count one failed run of ``job`` against the local job failure rule."""
    datum = triggered_rules_datum(local_resources(settings), at or datetime.now(UTC))
    aws_client("cloudwatch", settings).put_metric_data(
        Namespace=JOB_FAILURE_EVENTS.namespace.value, MetricData=[datum]
    )
    log.warning("job %s failed: counted as %s", job, datum["Dimensions"])


def count_job_failure(settings: K2Settings, job: str) -> None:
    """:func:`publish_job_failure`, logging instead of raising: counting a failure must not
    hide the job's own error."""
    try:
        publish_job_failure(settings, job)
    except Exception:
        log.warning("could not publish the failure of %s", job, exc_info=True)


@contextmanager
def reporting_failure(settings: K2Settings, job: str) -> Iterator[None]:
    """Run a job's block; if it raises, count the failure, then let the error go on.

    Only errors count (``Exception``): an interrupted run (Ctrl-C, a stop signal) did not fail.
    """
    try:
        yield
    except Exception:
        count_job_failure(settings, job)
        raise


def _pipeline(argv: list[str]) -> None:
    """The continuous pipeline; its OHLCV runs, each a job run of its own, are counted too."""
    from k2.jobs.pipeline import main

    settings = K2Settings()
    main(argv, on_failure=lambda job: count_job_failure(settings, job))


LOCAL_JOBS: dict[str, Callable[[list[str]], None]] = {"pipeline": _pipeline}
"""The jobs this module can run, by name, each taking its own command-line arguments."""


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in LOCAL_JOBS:
        jobs = "|".join(LOCAL_JOBS)
        raise SystemExit(f"usage: python -m k2.local.job_failure_events {{{jobs}}} [arguments]")
    job, job_args = args[0], args[1:]
    with reporting_failure(K2Settings(), job):
        LOCAL_JOBS[job](job_args)


if __name__ == "__main__":
    main()
