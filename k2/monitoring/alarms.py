"""The platform's alarms as data, thresholds from the deployment's :class:`AlarmThresholds`.

Every alarm reads a catalogued metric through a :class:`MetricQuery` or metric math over them
(CloudWatch alarms cannot evaluate SEARCH, so per-exchange alarms are one per exchange), and says
in its description what to do when it fires. Where silence itself is the failure (no trades, no
freshness report), missing data counts as breaching.

Spark job failures come from EventBridge: Glue (and EMR Serverless) publish a state-change event
for every job run, so a rule matching FAILED / TIMEOUT / ERROR runs (:func:`job_failure_rule`)
counts failures even when the job dies before any code of ours could report it; the alarm reads
that rule's ``AWS/Events`` ``TriggeredRules`` count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from k2.deployment.config import AlarmThresholds, Engine
from k2.domain.markets import Exchange
from k2.monitoring import metrics as m
from k2.monitoring.metrics import Resource
from k2.monitoring.queries import MathQuery, MetricQuery, Statistic

DESCRIPTION_LIMIT = 1024
"""CloudWatch's maximum AlarmDescription length."""

NO_DATA_PERIODS = 3
"""Five-minute periods without a published trade before the no-data alarm fires (15 minutes,
the reference system's NoDataIngested ``for``); both exchanges trade BTC every few seconds."""


class Comparison(StrEnum):
    """Member names match ``aws_cdk.aws_cloudwatch.ComparisonOperator``; values are
    CloudFormation's."""

    GREATER_THAN_THRESHOLD = "GreaterThanThreshold"
    GREATER_THAN_OR_EQUAL_TO_THRESHOLD = "GreaterThanOrEqualToThreshold"
    LESS_THAN_THRESHOLD = "LessThanThreshold"


class MissingData(StrEnum):
    """Member names match ``aws_cdk.aws_cloudwatch.TreatMissingData``."""

    BREACHING = "breaching"
    NOT_BREACHING = "notBreaching"


@dataclass(frozen=True)
class AlarmSpec:
    name_suffix: str
    """The CDK app names the alarm ``DeploymentConfig.resource_name(name_suffix)``."""
    metric: MetricQuery | MathQuery
    evaluation_periods: int
    datapoints_to_alarm: int
    comparison: Comparison
    threshold: float
    missing_data: MissingData
    summary: str
    """What fired, in one line."""
    action: str
    """What to do."""

    def __post_init__(self) -> None:
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError(f"{self.name_suffix}: datapoints must be in 1..evaluation periods")
        if isinstance(self.metric, MathQuery) and any(
            not isinstance(query, MetricQuery) for _, query in self.metric.using
        ):
            raise ValueError(f"{self.name_suffix}: alarms cannot use SEARCH expressions")
        if len(self.description) > DESCRIPTION_LIMIT:
            raise ValueError(f"{self.name_suffix}: description over {DESCRIPTION_LIMIT} chars")

    @property
    def period_s(self) -> int:
        return self.metric.period_s

    @property
    def description(self) -> str:
        return f"{self.summary} What to do: {self.action}"


@dataclass(frozen=True)
class EventRuleSpec:
    """An EventBridge rule the CDK app creates (named ``resource_name(name_suffix)``, its name
    given back as ``resource`` when rendering queries)."""

    name_suffix: str
    resource: Resource
    description: str
    event_pattern: tuple[tuple[str, Any], ...]

    def pattern(self) -> dict[str, Any]:
        return dict(self.event_pattern)


def job_failure_rule(
    engine: Engine, *, glue_job_prefix: str, emr_application_id: str | None = None
) -> EventRuleSpec:
    """Failed runs of our Spark jobs: Glue jobs whose name starts with ``glue_job_prefix``
    (e.g. ``k2-dev-``), or on EMR Serverless the runs of application ``emr_application_id``."""
    if engine is Engine.GLUE:
        failed = {"state": ["FAILED", "TIMEOUT", "ERROR"], "jobName": [{"prefix": glue_job_prefix}]}
        pattern: tuple[tuple[str, Any], ...] = (
            ("source", ["aws.glue"]),
            ("detail-type", ["Glue Job State Change"]),
            ("detail", failed),
        )
    else:
        if emr_application_id is None:
            raise ValueError("EMR Serverless: the application id is needed to match its runs")
        pattern = (
            ("source", ["aws.emr-serverless"]),
            ("detail-type", ["EMR Serverless Job Run State Change"]),
            ("detail", {"state": ["FAILED"], "applicationId": [emr_application_id]}),
        )
    return EventRuleSpec(
        "spark-job-failed",
        Resource.JOB_FAILURE_RULE,
        "K2 Spark job runs that failed or timed out (counted by the spark-job-failed alarm).",
        pattern,
    )


def _per_exchange(
    metric: m.MetricSpec, statistic: Statistic, period_s: int, exchange: Exchange
) -> MetricQuery:
    return MetricQuery(metric, statistic, period_s, (("exchange", exchange.value),), exchange.value)


def freshness_alarm(thresholds: AlarmThresholds, exchange: Exchange) -> AlarmSpec:
    return AlarmSpec(
        f"freshness-{exchange.value}",
        _per_exchange(m.GOLD_TRADE_AGE, Statistic.MAXIMUM, 60, exchange),
        evaluation_periods=3,
        datapoints_to_alarm=3,
        comparison=Comparison.GREATER_THAN_THRESHOLD,
        threshold=thresholds.freshness_seconds,
        missing_data=MissingData.BREACHING,
        summary=(
            f"The newest {exchange.value} trade in gold_crypto_trades has been older than "
            f"{thresholds.freshness_seconds} s for 3 minutes (or the freshness check stopped "
            "reporting)."
        ),
        action=(
            "Walk the path upstream: no-data alarm (feed handler), bronze consumer lag, "
            "spark-job-failed alarm and the Glue job runs, then the gold job's last commit. "
            "If only the check is silent, look at the freshness Lambda's log."
        ),
    )


def dlq_rate_alarm(thresholds: AlarmThresholds, exchanges: Sequence[Exchange]) -> AlarmSpec:
    using = tuple(
        (f"{source}_{exchange.value}", _per_exchange(metric, Statistic.SUM, 300, exchange))
        for source, metric in (("feed", m.DEAD_LETTERS), ("silver", m.SILVER_DEAD_LETTERS))
        for exchange in exchanges
    )
    expression = f"SUM(FILL([{', '.join(query_id for query_id, _ in using)}], 0))"
    return AlarmSpec(
        "dlq-rate",
        MathQuery(expression, using, "records dead-lettered", period_s=300),
        evaluation_periods=1,
        datapoints_to_alarm=1,
        comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold=thresholds.dlq_records_per_5min,
        missing_data=MissingData.NOT_BREACHING,
        summary=(
            f"At least {thresholds.dlq_records_per_5min} records were dead-lettered in 5 "
            "minutes (feed DLQ topics plus silver_dlq, all exchanges)."
        ),
        action=(
            "Open 'Dead letters by exchange' and 'Silver DLQ by reason'. Feed DLQ: read the DLQ "
            "topic's frames (exchange protocol change?). Silver: query silver_dlq by reason; "
            "unknown_schema_version or decimal_out_of_range need a schema or precision change, "
            "then replay from bronze. Nothing is lost: raw bytes are kept."
        ),
    )


def gaps_alarm(thresholds: AlarmThresholds, exchange: Exchange) -> AlarmSpec:
    return AlarmSpec(
        f"gaps-{exchange.value}",
        _per_exchange(m.UNFILLED_TRADE_IDS, Statistic.SUM, 3600, exchange),
        evaluation_periods=1,
        datapoints_to_alarm=1,
        comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold=thresholds.gaps_per_hour,
        missing_data=MissingData.NOT_BREACHING,
        summary=(
            f"{exchange.value}: trade ids the feed could not backfill in the last hour reached "
            f"{thresholds.gaps_per_hour} (counted in ids; any unfilled gap has at least one)."
        ),
        action=(
            "Those trades are missing from the lake (gap records mark them). Check the feed "
            "handler log for 'not served by REST' and the ids; check whether the handler was "
            "down longer than the exchange's REST history reaches, and note the gap for users."
        ),
    )


def job_failure_alarm() -> AlarmSpec:
    return AlarmSpec(
        "spark-job-failed",
        MetricQuery(m.JOB_FAILURE_EVENTS, Statistic.SUM, 300, label="failed job runs"),
        evaluation_periods=1,
        datapoints_to_alarm=1,
        comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold=1,
        missing_data=MissingData.NOT_BREACHING,
        summary="A K2 Spark job run ended FAILED, TIMEOUT or ERROR.",
        action=(
            "Find the run in the Glue console (or EMR Serverless) and read its error and driver "
            "log. Jobs are idempotent and checkpointed: fix the cause, then re-run the job; the "
            "next scheduled run also catches up."
        ),
    )


def api_5xx_alarm(thresholds: AlarmThresholds) -> AlarmSpec:
    return AlarmSpec(
        "api-5xx",
        MetricQuery(m.GATEWAY_5XX, Statistic.SUM, 300, label="5xx"),
        evaluation_periods=1,
        datapoints_to_alarm=1,
        comparison=Comparison.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        threshold=thresholds.api_5xx_per_5min,
        missing_data=MissingData.NOT_BREACHING,
        summary=(
            f"API Gateway returned at least {thresholds.api_5xx_per_5min} 5xx responses in 5 "
            "minutes (Lambda errors and 29 s timeouts included)."
        ),
        action=(
            "Open 'Recent API 5xx requests' for routes and correlation ids, and the Lambda "
            "errors/throttles panel. 504s mean queries too slow for 29 s (narrow the range or "
            "compact the tables); 502s a crashed or out-of-memory Lambda."
        ),
    )


def api_latency_alarm(thresholds: AlarmThresholds) -> AlarmSpec:
    return AlarmSpec(
        "api-p99",
        MetricQuery(m.GATEWAY_LATENCY, Statistic.P99, 300, label="p99"),
        evaluation_periods=3,
        datapoints_to_alarm=2,
        comparison=Comparison.GREATER_THAN_THRESHOLD,
        threshold=thresholds.api_p99_ms,
        missing_data=MissingData.NOT_BREACHING,
        summary=(
            f"API p99 latency at API Gateway above {thresholds.api_p99_ms} ms in 2 of the last "
            "3 five-minute periods."
        ),
        action=(
            "Open 'API latency p99 by route' to find the route; compare rows and files scanned. "
            "Many small files: run table maintenance (compaction). Cold starts: check Lambda "
            "duration p99 and consider provisioned concurrency."
        ),
    )


def no_data_alarm(exchange: Exchange) -> AlarmSpec:
    return AlarmSpec(
        f"no-data-{exchange.value}",
        _per_exchange(m.TRADES_PUBLISHED, Statistic.SUM, 300, exchange),
        evaluation_periods=NO_DATA_PERIODS,
        datapoints_to_alarm=NO_DATA_PERIODS,
        comparison=Comparison.LESS_THAN_THRESHOLD,
        threshold=1,
        missing_data=MissingData.BREACHING,
        summary=(
            f"{exchange.value}: no trade published to Kafka for {NO_DATA_PERIODS * 5} minutes, "
            "or the feed handler stopped reporting."
        ),
        action=(
            "Check the ECS service (task running? restarting?), then the feed handler log: "
            "connect failures, exchange errors, Kafka/IAM errors. The handler resumes and "
            "backfills from REST on restart."
        ),
    )


def platform_alarms(
    thresholds: AlarmThresholds, exchanges: Sequence[Exchange] = tuple(Exchange)
) -> tuple[AlarmSpec, ...]:
    """Every alarm of one deployment (pass ``config.alarms`` and ``config.exchanges``)."""
    return (
        *(freshness_alarm(thresholds, exchange) for exchange in exchanges),
        dlq_rate_alarm(thresholds, exchanges),
        *(gaps_alarm(thresholds, exchange) for exchange in exchanges),
        job_failure_alarm(),
        api_5xx_alarm(thresholds),
        api_latency_alarm(thresholds),
        *(no_data_alarm(exchange) for exchange in exchanges),
    )
