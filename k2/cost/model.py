"""The monthly cost of a deployment at a message rate: every line item with its arithmetic.

Pure functions: a :class:`DeploymentConfig`, a rate in msgs/s (Kafka records, trades plus
quotes, all exchanges together), a :class:`Workload` and a :class:`PriceTable` in, a
:class:`CostBreakdown` out. Money is :class:`~decimal.Decimal` throughout; only the report
rounds, to the cent.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from k2.cost.message_size import message_size
from k2.cost.numbers import num, unit_price
from k2.cost.prices import (
    BYTES_PER_GB,
    HOURS_PER_MONTH,
    PRICES,
    REGION,
    Price,
    PriceTable,
    msk_broker_price,
)
from k2.cost.workload import DEFAULT_WORKLOAD, Workload
from k2.deployment.config import DeploymentConfig, Engine, MskMode
from k2.domain.markets import DataType, Exchange, platform_topics
from k2.monitoring.alarms import platform_alarms

SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
MINUTES_PER_MONTH = HOURS_PER_MONTH * 60
DAYS_PER_MONTH = HOURS_PER_MONTH / 24

INTERFACE_ENDPOINTS = (
    "glue",
    "secretsmanager",
    "logs",
    "monitoring",
    "ecr.api",
    "ecr.dkr",
    "sts",
)
"""Interface VPC endpoints the network stack creates, one ENI per AZ each (S3 uses the free
gateway endpoint). Keep in step with ``infra_cdk``."""
DASHBOARDS = 1
SECRETS = 1
RUN_FAILURE_ALARMS = 3
"""One failed-execution alarm per scheduled state machine: pipeline, OHLCV, maintenance."""
FEED_METRICS_PER_EXCHANGE = 20
"""``k2.feeds.feed_metrics``: 17 counters, LagP50, LagP99 and QueueDepth, per exchange."""
API_ROUTES = 15
API_METRICS_PER_ROUTE = 5
"""``k2.api.observability``: Latency, Requests, RowsReturned, RowsScanned, FilesScanned."""
API_ERROR_SERIES = 10
"""``Errors`` by (code, status): an assumption about how many distinct pairs occur."""
DPU_PER_WORKER = {"G.1X": 1, "G.2X": 2, "G.4X": 4, "G.8X": 8}
VCPU_PER_DPU = 4
GB_PER_DPU = 16
LAKE_LAYERS = 3
"""Bronze, silver and gold each hold every message."""


class CostKind(StrEnum):
    """How a line moves with the message rate, which is what the per-million figure hides."""

    FIXED = "fixed"  # the same at any rate
    VOLUME = "volume"  # proportional to the rate
    USAGE = "usage"  # proportional to researchers' use (API, Athena), not the rate


@dataclass(frozen=True)
class LineItem:
    service: str
    item: str
    quantity: Decimal
    unit: str
    unit_price: Decimal
    kind: CostKind
    formula: str
    """How the quantity was derived, in the units of :attr:`unit`."""

    @property
    def monthly_usd(self) -> Decimal:
        return self.quantity * self.unit_price

    @property
    def arithmetic(self) -> str:
        """The whole line: derivation, then quantity x price."""
        return f"{self.formula} = {num(self.quantity)} {self.unit} x {unit_price(self.unit_price)}"


@dataclass(frozen=True)
class CostBreakdown:
    rate: Decimal
    engine: Engine
    msk: MskMode
    line_items: tuple[LineItem, ...]
    notes: tuple[str, ...]

    @property
    def monthly_usd(self) -> Decimal:
        return sum((line.monthly_usd for line in self.line_items), Decimal(0))

    @property
    def messages_per_month(self) -> Decimal:
        return self.rate * SECONDS_PER_MONTH

    @property
    def usd_per_million_messages(self) -> Decimal:
        return self.monthly_usd / (self.messages_per_month / 1_000_000)

    def total(self, kind: CostKind) -> Decimal:
        return sum((li.monthly_usd for li in self.line_items if li.kind is kind), Decimal(0))

    def service_totals(self) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for line in self.line_items:
            totals[line.service] = totals.get(line.service, Decimal(0)) + line.monthly_usd
        return dict(sorted(totals.items(), key=lambda item: item[1], reverse=True))


def estimate(
    config: DeploymentConfig,
    rate: Decimal | int,
    workload: Workload = DEFAULT_WORKLOAD,
    prices: PriceTable = PRICES,
) -> CostBreakdown:
    """Price ``config`` carrying ``rate`` msgs/s for one 730-hour month."""
    rate = Decimal(rate)
    if rate <= 0:
        raise ValueError(f"the message rate must be positive, got {rate}")
    context = _Context(config, rate, workload, prices)
    items = [
        *_msk(context),
        *_fargate(context),
        *_network(context),
        *_spark(context),
        *_s3(context),
        *_api(context),
        *_observability(context),
        *_orchestration(context),
    ]
    return CostBreakdown(rate, config.engine, config.msk, tuple(items), tuple(context.notes))


@dataclass
class _Context:
    config: DeploymentConfig
    rate: Decimal
    workload: Workload
    prices: PriceTable

    def __post_init__(self) -> None:
        self.notes: list[str] = []
        if self.config.region not in (None, REGION):
            self.notes.append(
                f"prices are {REGION}'s; {self.config.region} differs (usually 0-30% higher)"
            )

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        return self.config.exchanges

    def share(self, data_type: DataType) -> Decimal:
        trades = self.workload.trade_share
        return trades if data_type is DataType.TRADES else 1 - trades

    def kinds(self) -> Iterator[tuple[Exchange, DataType, Decimal]]:
        """Each record kind with its share of all messages."""
        for exchange in self.exchanges:
            for data_type in DataType:
                yield exchange, data_type, self.share(data_type) / len(self.exchanges)

    def mean_kafka_bytes(self) -> Decimal:
        return sum((w * message_size(e, d).kafka_bytes for e, d, w in self.kinds()), Decimal(0))

    def mean_wire_bytes(self) -> Decimal:
        return sum((w * message_size(e, d).wire_bytes for e, d, w in self.kinds()), Decimal(0))

    @property
    def pipeline_runs(self) -> Decimal:
        return MINUTES_PER_MONTH / self.config.schedules.pipeline_minutes

    @property
    def ohlcv_runs(self) -> Decimal:
        return MINUTES_PER_MONTH / self.config.schedules.ohlcv_minutes

    @property
    def spark_runs(self) -> Decimal:
        per_pipeline = 2 * len(self.exchanges) * len(DataType) + len(DataType)
        return self.pipeline_runs * per_pipeline + self.ohlcv_runs + DAYS_PER_MONTH

    def api_requests(self) -> Decimal:
        return Decimal(self.workload.api_requests_per_month)


def _line(
    service: str,
    item: str,
    quantity: Decimal,
    price: Price,
    kind: CostKind,
    formula: str,
    unit: str | None = None,
    usd: Decimal | None = None,
) -> LineItem:
    return LineItem(
        service,
        item,
        quantity,
        unit or price.unit,
        price.usd if usd is None else usd,
        kind,
        formula,
    )


def _gb(byte_count: Decimal) -> Decimal:
    return byte_count / BYTES_PER_GB


def _msk(c: _Context) -> list[LineItem]:
    p, w = c.prices, c.workload
    mean = c.mean_kafka_bytes()
    monthly_gb = _gb(c.rate * SECONDS_PER_MONTH * mean)
    retention_s = _raw_retention_seconds()
    stored_gb = _gb(c.rate * retention_s * mean)
    data_basis = f"{num(c.rate)} msg/s x {num(SECONDS_PER_MONTH)} s x {num(mean)} B / 2^30"
    if c.config.msk is MskMode.SERVERLESS:
        partitions = Decimal(_partitions(c.exchanges))
        return [
            _line(
                "MSK Serverless",
                "cluster-hours",
                HOURS_PER_MONTH,
                p.msk_serverless_cluster_hour,
                CostKind.FIXED,
                "1 cluster x 730 h",
            ),
            _line(
                "MSK Serverless",
                "partition-hours",
                partitions * HOURS_PER_MONTH,
                p.msk_serverless_partition_hour,
                CostKind.FIXED,
                f"{partitions} partitions x 730 h",
            ),
            _line(
                "MSK Serverless",
                "data in",
                monthly_gb,
                p.msk_serverless_data_in_gb,
                CostKind.VOLUME,
                data_basis,
            ),
            _line(
                "MSK Serverless",
                "data out",
                monthly_gb * w.kafka_reads_per_message,
                p.msk_serverless_data_out_gb,
                CostKind.VOLUME,
                f"{num(monthly_gb)} GB in x {num(w.kafka_reads_per_message)} read(s)",
            ),
            _line(
                "MSK Serverless",
                "storage (7-day retention)",
                stored_gb,
                p.msk_serverless_storage_gb_month,
                CostKind.VOLUME,
                f"{num(c.rate)} msg/s x {num(Decimal(retention_s))} s x {num(mean)} B / 2^30",
            ),
        ]
    size = c.config.msk_provisioned
    broker = msk_broker_price(size.broker_instance_type)
    replicas = min(3, size.broker_count)
    needed = stored_gb * replicas / size.broker_count
    if needed > size.volume_gib:
        c.notes.append(
            f"MSK provisioned: 7 days of data x {replicas} replicas needs {num(needed)} GiB per "
            f"broker; the configured volume is {size.volume_gib} GiB"
        )
    return [
        _line(
            "MSK provisioned",
            f"broker-hours ({size.broker_instance_type})",
            size.broker_count * HOURS_PER_MONTH,
            broker,
            CostKind.FIXED,
            f"{size.broker_count} brokers x 730 h",
        ),
        _line(
            "MSK provisioned",
            "broker storage",
            Decimal(size.broker_count * size.volume_gib),
            c.prices.msk_provisioned_storage_gb_month,
            CostKind.FIXED,
            f"{size.broker_count} brokers x {size.volume_gib} GiB",
        ),
    ]


def _raw_retention_seconds() -> int:
    raw = [t for t in platform_topics() if t.name.endswith(".raw")]
    return max(int(t.config["retention.ms"]) for t in raw) // 1000


def _partitions(exchanges: tuple[Exchange, ...]) -> int:
    """Partitions of the topics the configured exchanges use (raw and DLQ)."""
    return sum(
        topic.partitions
        for topic in platform_topics()
        if any(e.value in topic.name.split(".") for e in exchanges)
    )


def _fargate(c: _Context) -> list[LineItem]:
    size, w, p = c.config.feed_handler, c.workload, c.prices
    tasks = len(c.exchanges)
    vcpu = Decimal(size.cpu) / 1024
    memory_gb = Decimal(size.memory_mib) / 1024
    per_exchange = c.rate / tasks
    capacity = w.feed_records_per_vcpu_second * min(vcpu, Decimal(1))
    if per_exchange > capacity:
        c.notes.append(
            f"feed handler: {num(per_exchange)} msg/s per exchange, but one handler process "
            f"({num(vcpu)} vCPU, one asyncio loop, at most one core) publishes about "
            f"{num(capacity)} records/s; this rate needs the handler sharded by symbol over "
            f"{math.ceil(per_exchange / w.feed_records_per_vcpu_second)} tasks per exchange "
            "(not priced here)"
        )
    basis = f"{tasks} tasks x 730 h"
    return [
        _line(
            "Fargate (feed handlers)",
            "vCPU-hours",
            tasks * HOURS_PER_MONTH * vcpu,
            p.fargate_vcpu_hour,
            CostKind.FIXED,
            f"{basis} x {num(vcpu)} vCPU",
        ),
        _line(
            "Fargate (feed handlers)",
            "GB-hours",
            tasks * HOURS_PER_MONTH * memory_gb,
            p.fargate_gb_hour,
            CostKind.FIXED,
            f"{basis} x {num(memory_gb)} GB",
        ),
    ]


def _network(c: _Context) -> list[LineItem]:
    p, nat = c.prices, c.config.nat_gateways
    wire = c.mean_wire_bytes()
    nat_gb = _gb(c.rate * SECONDS_PER_MONTH * wire)
    endpoint_hours = len(INTERFACE_ENDPOINTS) * c.config.max_azs * HOURS_PER_MONTH
    return [
        _line(
            "VPC",
            "NAT gateway-hours",
            nat * HOURS_PER_MONTH,
            p.nat_gateway_hour,
            CostKind.FIXED,
            f"{nat} NAT gateway(s) x 730 h",
        ),
        _line(
            "VPC",
            "NAT public IPv4",
            nat * HOURS_PER_MONTH,
            p.public_ipv4_hour,
            CostKind.FIXED,
            f"{nat} Elastic IP(s) x 730 h",
        ),
        _line(
            "VPC",
            "NAT data processed (exchange WebSockets)",
            nat_gb,
            p.nat_gateway_gb,
            CostKind.VOLUME,
            f"{num(c.rate)} msg/s x {num(SECONDS_PER_MONTH)} s x {num(wire)} B on the wire / 2^30",
        ),
        _line(
            "VPC",
            "interface endpoint-hours",
            endpoint_hours,
            p.interface_endpoint_hour,
            CostKind.FIXED,
            f"{len(INTERFACE_ENDPOINTS)} endpoints x {c.config.max_azs} AZs x 730 h",
        ),
        _line(
            "VPC",
            "interface endpoint data (logs)",
            _log_gb(c),
            p.interface_endpoint_gb,
            CostKind.FIXED,
            "CloudWatch Logs ingestion passes the logs endpoint",
        ),
    ]


@dataclass(frozen=True)
class _SparkJob:
    name: str
    runs: Decimal
    rows_per_run: Decimal
    rows_per_dpu_minute: Decimal
    interval_minutes: Decimal
    runs_formula: str


def _spark_jobs(c: _Context) -> list[_SparkJob]:
    w, schedules = c.workload, c.config.schedules
    pipeline_s = Decimal(schedules.pipeline_minutes * 60)
    ohlcv_s = Decimal(schedules.ohlcv_minutes * 60)
    per_kind = len(c.exchanges) * len(DataType)
    runs = c.pipeline_runs
    runs_text = f"{num(runs)} pipeline runs"
    mean_share = c.rate / per_kind  # bronze/silver: one run per (exchange, data type)
    gold_rate = c.rate / len(DataType)
    return [
        _SparkJob(
            "bronze",
            runs * per_kind,
            mean_share * pipeline_s,
            w.bronze_rows_per_dpu_minute,
            Decimal(schedules.pipeline_minutes),
            f"{runs_text} x {per_kind} jobs",
        ),
        _SparkJob(
            "silver",
            runs * per_kind,
            mean_share * pipeline_s,
            w.silver_rows_per_dpu_minute,
            Decimal(schedules.pipeline_minutes),
            f"{runs_text} x {per_kind} jobs",
        ),
        _SparkJob(
            "gold",
            runs * len(DataType),
            gold_rate * pipeline_s,
            w.gold_rows_per_dpu_minute,
            Decimal(schedules.pipeline_minutes),
            f"{runs_text} x {len(DataType)} jobs",
        ),
        _SparkJob(
            "OHLCV",
            c.ohlcv_runs,
            c.rate * w.trade_share * ohlcv_s,
            w.ohlcv_rows_per_dpu_minute,
            Decimal(schedules.ohlcv_minutes),
            f"{num(c.ohlcv_runs)} runs (every {schedules.ohlcv_minutes} min)",
        ),
        _SparkJob(
            "maintenance",
            DAYS_PER_MONTH,
            c.rate * 86400 * LAKE_LAYERS,
            w.maintenance_rows_per_dpu_minute,
            Decimal(1440),
            f"{num(DAYS_PER_MONTH)} daily runs",
        ),
    ]


def _spark(c: _Context) -> list[LineItem]:
    size, w = c.config.spark_job, c.workload
    dpu = DPU_PER_WORKER[size.worker_type]
    workers = size.workers
    executors_dpu = Decimal((workers - 1) * dpu)
    if c.config.engine is Engine.GLUE:
        service, price = "Glue", c.prices.glue_dpu_hour
        unit, per_unit, capacity = "DPU-hour", price.usd, Decimal(workers * dpu)
        capacity_text = f"{workers} workers x {dpu} DPU"
    else:
        service = "EMR Serverless"
        vcpu, memory = dpu * VCPU_PER_DPU, dpu * GB_PER_DPU
        per_unit = vcpu * c.prices.emr_serverless_vcpu_hour.usd
        per_unit += memory * c.prices.emr_serverless_gb_hour.usd
        price, unit, capacity = c.prices.emr_serverless_vcpu_hour, "worker-hour", Decimal(workers)
        capacity_text = (
            f"{workers} workers (each {vcpu} vCPU x "
            f"{unit_price(c.prices.emr_serverless_vcpu_hour.usd)} + {memory} GB x "
            f"{unit_price(c.prices.emr_serverless_gb_hour.usd)} per hour)"
        )
    fixed = max(w.spark_fixed_minutes_per_run, Decimal(1))
    items: list[LineItem] = []
    pipeline_minutes = Decimal(0)
    for job in _spark_jobs(c):
        work = job.rows_per_run / (job.rows_per_dpu_minute * executors_dpu)
        billed = max(w.spark_fixed_minutes_per_run + work, Decimal(1)) - fixed
        items.append(
            _line(
                service,
                f"{job.name}: fixed part of each run",
                job.runs * capacity * fixed / 60,
                price,
                CostKind.FIXED,
                f"{job.runs_formula} x {capacity_text} x {num(fixed)} min / 60",
                unit=unit,
                usd=per_unit,
            )
        )
        items.append(
            _line(
                service,
                f"{job.name}: rows",
                job.runs * capacity * billed / 60,
                price,
                CostKind.VOLUME,
                f"{job.runs_formula} x {capacity_text} x ({num(job.rows_per_run)} rows / "
                f"({num(job.rows_per_dpu_minute)} rows per DPU-min x {num(executors_dpu)} "
                f"executor DPU) = {num(billed)} min) / 60",
                unit=unit,
                usd=per_unit,
            )
        )
        duration = w.spark_fixed_minutes_per_run + work
        if job.name in ("bronze", "silver", "gold"):
            pipeline_minutes += duration
        _capacity_note(c, job, duration, dpu)
    if pipeline_minutes > c.config.schedules.pipeline_minutes:
        c.notes.append(
            f"pipeline: bronze + silver + gold take {num(pipeline_minutes)} min per run with "
            f"{workers} workers, longer than the {c.config.schedules.pipeline_minutes}-min "
            "schedule: runs queue up and freshness suffers (the cost is the same DPU time)"
        )
    return items


def _capacity_note(c: _Context, job: _SparkJob, duration: Decimal, dpu: int) -> None:
    if duration <= job.interval_minutes:
        return
    spare = job.interval_minutes - c.workload.spark_fixed_minutes_per_run
    if spare <= 0:
        c.notes.append(f"{job.name}: the fixed start-up alone exceeds the schedule interval")
        return
    executors = math.ceil(job.rows_per_run / (job.rows_per_dpu_minute * dpu * spare))
    c.notes.append(
        f"{job.name}: one run takes {num(duration)} min against a {num(job.interval_minutes)}"
        f"-min schedule; keeping up needs >= {executors + 1} workers "
        f"(configured {c.config.spark_job.workers}, and priced as configured)"
    )


def _s3(c: _Context) -> list[LineItem]:
    p, w = c.prices, c.workload
    row_bytes = w.bronze_bytes_per_row + w.silver_bytes_per_row + w.gold_bytes_per_row
    stored_gb = _gb(c.rate * w.days_stored * 86400 * row_bytes)
    runs = c.spark_runs
    api = c.api_requests()
    return [
        _line(
            "S3",
            f"lake storage after {w.days_stored} days",
            stored_gb,
            p.s3_standard_gb_month,
            CostKind.VOLUME,
            f"{num(c.rate)} msg/s x {w.days_stored} d x 86,400 s x ({num(w.bronze_bytes_per_row)}"
            f" + {num(w.silver_bytes_per_row)} + {num(w.gold_bytes_per_row)}) B / 2^30",
        ),
        _line(
            "S3",
            "PUT requests (Spark runs)",
            runs * w.s3_puts_per_run / 1000,
            p.s3_put_thousand,
            CostKind.FIXED,
            f"{num(runs)} Spark runs x {w.s3_puts_per_run} / 1,000",
        ),
        _line(
            "S3",
            "GET requests (Spark runs)",
            runs * w.s3_gets_per_run / 1000,
            p.s3_get_thousand,
            CostKind.FIXED,
            f"{num(runs)} Spark runs x {w.s3_gets_per_run} / 1,000",
        ),
        _line(
            "S3",
            "GET requests (API)",
            api * w.api_s3_gets_per_request / 1000,
            p.s3_get_thousand,
            CostKind.USAGE,
            f"{num(api)} API requests x {w.api_s3_gets_per_request} / 1,000",
        ),
        _line(
            "Glue Data Catalog",
            "requests (Spark runs)",
            runs * w.glue_catalog_requests_per_run / 1_000_000,
            p.glue_catalog_million_requests,
            CostKind.FIXED,
            f"{num(runs)} Spark runs x {w.glue_catalog_requests_per_run} / 10^6",
        ),
        _line(
            "Glue Data Catalog",
            "requests (API)",
            api * w.api_glue_requests_per_request / 1_000_000,
            p.glue_catalog_million_requests,
            CostKind.USAGE,
            f"{num(api)} API requests x {w.api_glue_requests_per_request} / 10^6",
        ),
    ]


def _api(c: _Context) -> list[LineItem]:
    p, w = c.prices, c.workload
    api = c.api_requests()
    memory_gb = Decimal(c.config.api.memory_mib) / 1024
    out_gb = api * w.api_response_kib / (1024 * 1024)
    return [
        _line(
            "Lambda (API)",
            "requests",
            api / 1_000_000,
            p.lambda_million_requests,
            CostKind.USAGE,
            f"{num(api)} requests / 10^6",
        ),
        _line(
            "Lambda (API)",
            "GB-seconds",
            api * w.api_mean_duration_seconds * memory_gb,
            p.lambda_gb_second,
            CostKind.USAGE,
            f"{num(api)} requests x {num(w.api_mean_duration_seconds)} s x {num(memory_gb)} GB",
        ),
        _line(
            "API Gateway",
            "REST requests",
            api / 1_000_000,
            p.api_gateway_rest_million,
            CostKind.USAGE,
            f"{num(api)} requests / 10^6",
        ),
        _line(
            "Data transfer",
            "API responses to the internet",
            out_gb,
            p.data_transfer_out_gb,
            CostKind.USAGE,
            f"{num(api)} requests x {num(w.api_response_kib)} KiB / 2^20",
        ),
        _line(
            "Athena",
            "data scanned",
            w.athena_tb_scanned_per_month,
            p.athena_tb_scanned,
            CostKind.USAGE,
            "assumed research use",
        ),
    ]


def _log_gb(c: _Context) -> Decimal:
    w = c.workload
    jobs = c.spark_runs * w.log_mib_per_spark_run / 1024
    feeds = len(c.exchanges) * DAYS_PER_MONTH * w.log_mib_per_feed_task_day / 1024
    api = c.api_requests() * w.log_kib_per_api_request / (1024 * 1024)
    return jobs + feeds + api


def _observability(c: _Context) -> list[LineItem]:
    p, w = c.prices, c.workload
    alarms = len(platform_alarms(c.config.alarms, c.exchanges)) + RUN_FAILURE_ALARMS
    metrics = FEED_METRICS_PER_EXCHANGE * len(c.exchanges)
    metrics += API_ROUTES * API_METRICS_PER_ROUTE + API_ERROR_SERIES
    logs = _log_gb(c)
    stored = logs * c.config.retention.log_days / DAYS_PER_MONTH
    return [
        _line(
            "CloudWatch",
            "custom metrics",
            Decimal(metrics),
            p.cloudwatch_metric_month,
            CostKind.FIXED,
            f"{FEED_METRICS_PER_EXCHANGE} x {len(c.exchanges)} exchanges + {API_ROUTES} routes "
            f"x {API_METRICS_PER_ROUTE} + {API_ERROR_SERIES} error series",
        ),
        _line(
            "CloudWatch",
            "alarms",
            Decimal(alarms),
            p.cloudwatch_alarm_month,
            CostKind.FIXED,
            f"{alarms} alarms (k2.monitoring.alarms.platform_alarms + "
            f"{RUN_FAILURE_ALARMS} failed-run alarms)",
        ),
        _line(
            "CloudWatch",
            "dashboard",
            Decimal(DASHBOARDS),
            p.cloudwatch_dashboard_month,
            CostKind.FIXED,
            f"{DASHBOARDS} dashboard",
        ),
        _line(
            "CloudWatch",
            "logs ingested",
            logs,
            p.cloudwatch_logs_ingest_gb,
            CostKind.FIXED,
            f"{num(c.spark_runs)} Spark runs x {num(w.log_mib_per_spark_run)} MiB + "
            f"{len(c.exchanges)} feeds x {num(DAYS_PER_MONTH)} d x "
            f"{num(w.log_mib_per_feed_task_day)} MiB + {num(c.api_requests())} requests x "
            f"{num(w.log_kib_per_api_request)} KiB",
        ),
        _line(
            "CloudWatch",
            f"logs stored ({c.config.retention.log_days}-day retention)",
            stored,
            p.cloudwatch_logs_storage_gb_month,
            CostKind.FIXED,
            f"{num(logs)} GB/month x {c.config.retention.log_days} d / {num(DAYS_PER_MONTH)} d",
        ),
    ]


def _orchestration(c: _Context) -> list[LineItem]:
    p, w = c.prices, c.workload
    transitions = c.pipeline_runs * w.step_function_transitions_per_pipeline_run
    invocations = c.pipeline_runs + c.ohlcv_runs + DAYS_PER_MONTH
    return [
        _line(
            "Step Functions",
            "state transitions",
            transitions / 1000,
            p.step_functions_thousand_transitions,
            CostKind.FIXED,
            f"{num(c.pipeline_runs)} pipeline runs x "
            f"{w.step_function_transitions_per_pipeline_run} / 1,000",
        ),
        _line(
            "EventBridge Scheduler",
            "invocations",
            invocations / 1_000_000,
            p.scheduler_million_invocations,
            CostKind.FIXED,
            f"({num(c.pipeline_runs)} + {num(c.ohlcv_runs)} + {num(DAYS_PER_MONTH)}) / 10^6",
        ),
        _line(
            "Secrets Manager",
            "secrets",
            Decimal(SECRETS),
            p.secrets_manager_secret_month,
            CostKind.FIXED,
            "the API keys secret",
        ),
        _line(
            "ECR",
            "image storage",
            w.ecr_image_gib,
            p.ecr_storage_gb_month,
            CostKind.FIXED,
            "feed handler + API images",
        ),
    ]
