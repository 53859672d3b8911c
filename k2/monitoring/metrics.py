"""The platform's metric catalog: every metric a K2 dashboard or alarm may refer to, once.

Our own metrics live in one CloudWatch namespace, ``K2``, written as embedded-metric-format
lines by aws-lambda-powertools; the ``service`` dimension (powertools adds it from
``Metrics(service=...)``) tells the emitters apart. AWS's own metrics (API Gateway, Lambda,
Glue, ECS, EventBridge) are catalogued too, under their namespaces, so a panel or alarm that
uses them is checked like any other. ``emitted=False`` marks a metric the requirements ask for
that no code writes yet; :attr:`MetricSpec.component` names who should.

A CloudWatch metric is identified by namespace, name *and* the full set of dimension names, so
the catalog records every dimension: fixed ones with their value (``service``), deployment
names as a :class:`Resource` the CDK app resolves, and open ones (``exchange``, ``route``) as
``None``, to be given by a query or split by a ``SEARCH``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Namespace(StrEnum):
    K2 = "K2"
    API_GATEWAY = "AWS/ApiGateway"
    LAMBDA = "AWS/Lambda"
    GLUE = "Glue"
    """Glue job metrics (``--enable-metrics``) are published under ``Glue``, not ``AWS/Glue``."""
    ECS = "AWS/ECS"
    EVENTS = "AWS/Events"


class Unit(StrEnum):
    """CloudWatch units; member names match ``aws_cdk.aws_cloudwatch.Unit``."""

    COUNT = "Count"
    MILLISECONDS = "Milliseconds"
    SECONDS = "Seconds"
    PERCENT = "Percent"
    NONE = "None"


class Component(StrEnum):
    """Who writes a metric: one of our deployables, or an AWS service."""

    FEED_HANDLER = "feed handler (Fargate, k2.feeds.feed_metrics)"
    API = "API (Lambda, k2.api.observability)"
    SPARK_JOBS = "Spark jobs (Glue / EMR Serverless, k2.jobs runners)"
    FRESHNESS_CHECK = "freshness check (scheduled Lambda, every minute)"
    API_GATEWAY = "Amazon API Gateway"
    LAMBDA = "AWS Lambda"
    GLUE = "AWS Glue (job metrics enabled)"
    ECS = "Amazon ECS"
    EVENTBRIDGE = "Amazon EventBridge (rule k2.monitoring.alarms.job_failure_rule)"


class Resource(StrEnum):
    """A name only the deployment knows; the CDK app maps each to the real (token) value."""

    API_NAME = "api_name"
    """The API Gateway REST API's name (the ``ApiName`` dimension)."""
    API_FUNCTION = "api_function"
    """The API Lambda's function name."""
    API_LOG_GROUP = "api_log_group"
    FEED_CLUSTER = "feed_cluster"
    """The ECS cluster running the feed handler services."""
    FEED_LOG_GROUP = "feed_log_group"
    JOB_FAILURE_RULE = "job_failure_rule"
    """The EventBridge rule matching failed Spark job runs (see ``alarms.job_failure_rule``)."""


Resources = Mapping[Resource, str]
"""What the CDK app passes in: each :class:`Resource` → its name in this deployment."""


@dataclass(frozen=True)
class Dimension:
    """One dimension of a metric: ``value`` fixed, a deployment :class:`Resource`, or ``None``
    when it varies per datapoint (exchange, route...)."""

    name: str
    value: str | Resource | None = None

    @property
    def is_open(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class MetricSpec:
    """One CloudWatch metric: what it is, where it comes from, and whether it exists yet."""

    name: str
    namespace: Namespace
    dimensions: tuple[Dimension, ...]
    unit: Unit
    component: Component
    meaning: str
    emitted: bool = True

    @property
    def dimension_names(self) -> tuple[str, ...]:
        return tuple(dimension.name for dimension in self.dimensions)

    @property
    def open_dimensions(self) -> tuple[str, ...]:
        return tuple(dimension.name for dimension in self.dimensions if dimension.is_open)

    @property
    def key(self) -> str:
        """``namespace/name{dimensions}``: what identifies the metric in CloudWatch."""
        return f"{self.namespace.value}:{self.name}{{{','.join(sorted(self.dimension_names))}}}"


# -- our emitters' service names (the ``service`` dimension powertools adds) ---------------------

FEED_SERVICE = "k2-feed-handler"
API_SERVICE = "k2-api"
JOBS_SERVICE = "k2-jobs"
FRESHNESS_SERVICE = "k2-freshness"

_EXCHANGE = Dimension("exchange")


def _feed(name: str, meaning: str, unit: Unit = Unit.COUNT) -> MetricSpec:
    """A feed handler metric: one datapoint per exchange per flush (every 60 s by default)."""
    dimensions = (Dimension("service", FEED_SERVICE), _EXCHANGE)
    return MetricSpec(name, Namespace.K2, dimensions, unit, Component.FEED_HANDLER, meaning)


def _api(name: str, meaning: str, *open_dimensions: str, unit: Unit = Unit.COUNT) -> MetricSpec:
    dimensions = (Dimension("service", API_SERVICE), *map(Dimension, open_dimensions))
    return MetricSpec(name, Namespace.K2, dimensions, unit, Component.API, meaning)


def _job(name: str, meaning: str, *open_dimensions: str, unit: Unit = Unit.COUNT) -> MetricSpec:
    dimensions = (Dimension("service", JOBS_SERVICE), *map(Dimension, open_dimensions))
    return MetricSpec(name, Namespace.K2, dimensions, unit, Component.SPARK_JOBS, meaning)


# -- feed handler: exchange WebSocket → Kafka (dimension exchange) -------------------------------

FRAMES = _feed("Frames", "WebSocket frames received from the exchange (messages in).")
TRADES_PUBLISHED = _feed("TradesPublished", "Trades acknowledged by Kafka (messages out).")
QUOTES_PUBLISHED = _feed("QuotesPublished", "Best bid/ask quotes acknowledged by Kafka.")
DUPLICATE_TRADES_DROPPED = _feed(
    "DuplicateTradesDropped", "Trades already published (same trade id), not sent again."
)
DUPLICATE_QUOTES_DROPPED = _feed(
    "DuplicateQuotesDropped", "Quotes already published (same key), not sent again."
)
DEAD_LETTERS = _feed(
    "DeadLetters", "Frames no parser accepted, sent byte for byte to the exchange's DLQ topic."
)
GAPS_DETECTED = _feed("GapsDetected", "Trade-id gaps opened (each starts a REST backfill).")
TRADE_IDS_MISSING = _feed("TradeIdsMissing", "Trade ids inside the gaps opened.")
TRADES_BACKFILLED = _feed("TradesBackfilled", "Trades recovered from the exchange's REST history.")
BACKFILL_ERRORS = _feed("BackfillErrors", "Failed REST backfill attempts (retried).")
UNFILLED_TRADE_IDS = _feed(
    "UnfilledTradeIds", "Trade ids REST no longer serves, recorded as a gap record: data lost."
)
EXCHANGE_ERRORS = _feed("ExchangeErrors", "Error messages the exchange sent on the WebSocket.")
RECONNECTS = _feed("Reconnects", "WebSocket reconnections after an unplanned disconnect.")
ROTATIONS = _feed("Rotations", "Planned connection replacements before the exchange's cut-off.")
STALE_CONNECTIONS = _feed("StaleConnections", "Connections dropped for going silent too long.")
CONNECT_FAILURES = _feed("ConnectFailures", "Failed attempts to open a WebSocket connection.")
SERVER_SHUTDOWN_NOTICES = _feed(
    "ServerShutdownNotices", "Shutdown notices from the exchange (connection replaced early)."
)
LAG_P50 = _feed(
    "LagP50",
    "Median exchange trade time → Kafka ack over the flush interval (already a percentile).",
    Unit.MILLISECONDS,
)
LAG_P99 = _feed(
    "LagP99",
    "p99 exchange trade time → Kafka ack over the flush interval (already a percentile).",
    Unit.MILLISECONDS,
)
QUEUE_DEPTH = _feed("QueueDepth", "Frames waiting in the handler's bounded queue at the flush.")

# -- API: one EMF document per request (route), errors by code and status ------------------------

API_LATENCY = _api(
    "Latency", "Request time inside the Lambda, per route.", "route", unit=Unit.MILLISECONDS
)
API_REQUESTS = _api("Requests", "Requests served, per route template.", "route")
API_ROWS_RETURNED = _api("RowsReturned", "Rows in the response, per route.", "route")
API_ROWS_SCANNED = _api("RowsScanned", "Rows the query engine read to answer, per route.", "route")
API_FILES_SCANNED = _api(
    "FilesScanned", "Parquet files the query engine opened, per route.", "route"
)
API_ERRORS = _api(
    "Errors", "Error responses by error code and HTTP status (4xx and 5xx).", "code", "status"
)
API_ERRORS_BY_ROUTE = MetricSpec(
    "ErrorsByRoute",
    Namespace.K2,
    (Dimension("service", API_SERVICE), Dimension("route"), Dimension("status")),
    Unit.COUNT,
    Component.API,
    "Error responses by route and HTTP status (Errors has no route dimension).",
)

# -- Spark jobs: after each batch, from the driver (k2.jobs.job_metrics) ------------------------

ROWS_WRITTEN = _job(
    "RowsWritten",
    "Rows one batch committed to an Iceberg table (bronze: Kafka records consumed); one "
    "datapoint per batch, so Sum is throughput and p50/p99 the batch size.",
    "job",
    "table",
)
BATCH_DURATION = _job(
    "BatchDuration",
    "Wall time of one batch, read to Iceberg commit, per job and table.",
    "job",
    "table",
    unit=Unit.MILLISECONDS,
)
CONSUMER_LAG = _job(
    "ConsumerLag",
    "Kafka records behind the topic's end when a bronze batch finishes (the topic's latest "
    "offsets minus the batch's end offsets, summed over partitions, from Spark's progress; "
    "Spark keeps offsets in its checkpoint, so MSK's consumer-group lag metrics never see them).",
    "job",
    "topic",
)
SILVER_DEAD_LETTERS = _job(
    "SilverDeadLetters",
    "Records silver wrote to silver_dlq, any reason, per exchange (what the DLQ alarm sums).",
    "exchange",
)
SILVER_DEAD_LETTERS_BY_REASON = _job(
    "SilverDeadLettersByReason",
    "The same records by reason_class (decode/schema/normalise/validate) and reason "
    "(k2.domain.validation.ReasonCode).",
    "exchange",
    "reason_class",
    "reason",
)

# -- freshness: measured from outside the pipeline, so a stopped pipeline shows as stale ---------

GOLD_TRADE_AGE = MetricSpec(
    "GoldTradeAge",
    Namespace.K2,
    (Dimension("service", FRESHNESS_SERVICE), _EXCHANGE),
    Unit.SECONDS,
    Component.FRESHNESS_CHECK,
    "Now minus the newest trade timestamp in gold_crypto_trades, per exchange.",
)

# -- AWS services ---------------------------------------------------------------------------------

_API_NAME = (Dimension("ApiName", Resource.API_NAME),)
_FUNCTION = (Dimension("FunctionName", Resource.API_FUNCTION),)
_FEED_SERVICE = (Dimension("ClusterName", Resource.FEED_CLUSTER), Dimension("ServiceName"))


def _aws(
    namespace: Namespace,
    name: str,
    dimensions: tuple[Dimension, ...],
    component: Component,
    meaning: str,
    unit: Unit = Unit.COUNT,
) -> MetricSpec:
    return MetricSpec(name, namespace, dimensions, unit, component, meaning)


GATEWAY_COUNT = _aws(
    Namespace.API_GATEWAY, "Count", _API_NAME, Component.API_GATEWAY, "Requests to the API."
)
GATEWAY_4XX = _aws(
    Namespace.API_GATEWAY,
    "4XXError",
    _API_NAME,
    Component.API_GATEWAY,
    "Client errors, including missing keys and usage-plan throttling (429).",
)
GATEWAY_5XX = _aws(
    Namespace.API_GATEWAY,
    "5XXError",
    _API_NAME,
    Component.API_GATEWAY,
    "Server errors, including Lambda crashes and the 29 s integration timeout.",
)
GATEWAY_LATENCY = _aws(
    Namespace.API_GATEWAY,
    "Latency",
    _API_NAME,
    Component.API_GATEWAY,
    "Request to response at API Gateway, everything included.",
    Unit.MILLISECONDS,
)
LAMBDA_INVOCATIONS = _aws(
    Namespace.LAMBDA, "Invocations", _FUNCTION, Component.LAMBDA, "API Lambda invocations."
)
LAMBDA_ERRORS = _aws(
    Namespace.LAMBDA, "Errors", _FUNCTION, Component.LAMBDA, "Invocations that failed."
)
LAMBDA_THROTTLES = _aws(
    Namespace.LAMBDA, "Throttles", _FUNCTION, Component.LAMBDA, "Invocations refused."
)
LAMBDA_DURATION = _aws(
    Namespace.LAMBDA,
    "Duration",
    _FUNCTION,
    Component.LAMBDA,
    "Invocation time, the DuckDB query included.",
    Unit.MILLISECONDS,
)
GLUE_FAILED_TASKS = _aws(
    Namespace.GLUE,
    "glue.driver.aggregate.numFailedTasks",
    (Dimension("JobName"), Dimension("JobRunId", "ALL"), Dimension("Type", "count")),
    Component.GLUE,
    "Failed Spark tasks per Glue job (a task failure is retried; a job failure is not).",
)
ECS_CPU = _aws(
    Namespace.ECS,
    "CPUUtilization",
    _FEED_SERVICE,
    Component.ECS,
    "Feed handler service CPU against its reservation.",
    Unit.PERCENT,
)
ECS_MEMORY = _aws(
    Namespace.ECS,
    "MemoryUtilization",
    _FEED_SERVICE,
    Component.ECS,
    "Feed handler service memory against its reservation.",
    Unit.PERCENT,
)
JOB_FAILURE_EVENTS = _aws(
    Namespace.EVENTS,
    "TriggeredRules",
    (Dimension("RuleName", Resource.JOB_FAILURE_RULE),),
    Component.EVENTBRIDGE,
    "Spark job runs that ended FAILED, TIMEOUT or ERROR (EventBridge state-change events).",
)

CATALOG: tuple[MetricSpec, ...] = (
    FRAMES,
    TRADES_PUBLISHED,
    QUOTES_PUBLISHED,
    DUPLICATE_TRADES_DROPPED,
    DUPLICATE_QUOTES_DROPPED,
    DEAD_LETTERS,
    GAPS_DETECTED,
    TRADE_IDS_MISSING,
    TRADES_BACKFILLED,
    BACKFILL_ERRORS,
    UNFILLED_TRADE_IDS,
    EXCHANGE_ERRORS,
    RECONNECTS,
    ROTATIONS,
    STALE_CONNECTIONS,
    CONNECT_FAILURES,
    SERVER_SHUTDOWN_NOTICES,
    LAG_P50,
    LAG_P99,
    QUEUE_DEPTH,
    API_LATENCY,
    API_REQUESTS,
    API_ROWS_RETURNED,
    API_ROWS_SCANNED,
    API_FILES_SCANNED,
    API_ERRORS,
    API_ERRORS_BY_ROUTE,
    ROWS_WRITTEN,
    BATCH_DURATION,
    CONSUMER_LAG,
    SILVER_DEAD_LETTERS,
    SILVER_DEAD_LETTERS_BY_REASON,
    GOLD_TRADE_AGE,
    GATEWAY_COUNT,
    GATEWAY_4XX,
    GATEWAY_5XX,
    GATEWAY_LATENCY,
    LAMBDA_INVOCATIONS,
    LAMBDA_ERRORS,
    LAMBDA_THROTTLES,
    LAMBDA_DURATION,
    GLUE_FAILED_TASKS,
    ECS_CPU,
    ECS_MEMORY,
    JOB_FAILURE_EVENTS,
)


def metrics_of(component: Component) -> tuple[MetricSpec, ...]:
    return tuple(spec for spec in CATALOG if spec.component is component)
