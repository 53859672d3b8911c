"""A failed job run in the local cloud is counted as EventBridge counts it in AWS: one
``AWS/Events`` ``TriggeredRules`` datapoint for the job failure rule, which the spark-job-failed
alarm reads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import pytest

from k2.aws import aws_client
from k2.jobs.ohlcv import run_ohlcv
from k2.jobs.pipeline import keep_bars_fresh
from k2.local.job_failure_events import main, reporting_failure, triggered_rules_datum
from k2.local.monitoring_resources import local_deployment, local_resources
from k2.monitoring import metrics as m
from k2.monitoring.alarms import job_failure_alarm, job_failure_rule
from k2.monitoring.metrics import Resource
from k2.monitoring.queries import MetricQuery
from k2.settings import K2Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.mark.unit
def test_the_datum_is_the_one_the_alarm_reads() -> None:
    settings = K2Settings(environment="dev")
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    datum = triggered_rules_datum(local_resources(settings), at)

    alarm = job_failure_alarm().metric
    assert isinstance(alarm, MetricQuery)
    assert alarm.metric is m.JOB_FAILURE_EVENTS
    assert datum["MetricName"] == alarm.metric.name == "TriggeredRules"
    # The CDK app names the rule k2-<environment>-<suffix>, like every resource.
    rule = job_failure_rule(local_deployment(settings).engine, glue_job_prefix="")
    rule_name = f"k2-dev-{rule.name_suffix}"
    assert local_resources(settings)[Resource.JOB_FAILURE_RULE] == rule_name
    assert datum["Dimensions"] == [{"Name": "RuleName", "Value": rule_name}]
    assert datum["Unit"] == "Count"
    assert datum["Value"] == 1
    assert datum["Timestamp"] == at


@pytest.mark.unit
def test_only_known_jobs_run() -> None:
    with pytest.raises(SystemExit, match="usage"):
        main(["bronze"])
    with pytest.raises(SystemExit, match="usage"):
        main([])


@pytest.mark.unit
def test_the_pipeline_tells_each_failed_ohlcv_run() -> None:
    """The local pipeline runs OHLCV on a thread and retries a failed run; each failure is one
    job run failed (here: no Spark session at all)."""
    stopping = threading.Event()
    failed: list[str] = []

    def on_failure(job: str) -> None:
        failed.append(job)
        if len(failed) == 2:
            stopping.set()

    keep_bars_fresh(cast(Any, None), K2Settings(), 0.01, stopping, on_failure)
    assert failed == ["ohlcv", "ohlcv"]


def _failures_counted(settings: K2Settings, since: datetime) -> float:
    rule_name = local_resources(settings)[Resource.JOB_FAILURE_RULE]
    response = aws_client("cloudwatch", settings).get_metric_statistics(
        Namespace=m.JOB_FAILURE_EVENTS.namespace.value,
        MetricName=m.JOB_FAILURE_EVENTS.name,
        Dimensions=[{"Name": "RuleName", "Value": rule_name}],
        StartTime=since,
        EndTime=datetime.now(UTC) + timedelta(minutes=5),
        Period=60,
        Statistics=["Sum"],
    )
    return float(sum(point["Sum"] for point in response["Datapoints"]))


@pytest.mark.integration
def test_a_failed_job_run_is_counted_once_and_a_good_one_not_at_all(
    spark: SparkSession, k2_settings: K2Settings
) -> None:
    since = datetime.now(UTC) - timedelta(minutes=5)
    before = _failures_counted(k2_settings, since)

    with reporting_failure(k2_settings, "ohlcv"):
        pass  # a run that ends well
    assert _failures_counted(k2_settings, since) == before

    # A real run that fails: the job's Glue database does not exist.
    missing = k2_settings.model_copy(update={"glue_database": "k2_no_such_database"})
    with (
        pytest.raises(Exception, match="k2_no_such_database"),
        reporting_failure(k2_settings, "ohlcv"),
    ):
        run_ohlcv(spark, missing)
    assert _failures_counted(k2_settings, since) == before + 1
