"""The typed configuration of one AWS deployment (pure: no AWS calls, no CDK).

The CDK app (``infra_cdk/app.py``) builds every stack from a :class:`DeploymentConfig`, and
``k2 cost`` prices the same object, so what is deployed and what is costed cannot drift apart.
Values come from ``cdk.json`` context (key ``k2``), optionally a JSON file named by the context
key ``k2:config``, and ``-c k2:<field>=<value>`` overrides on the command line; anything unset
takes the defaults below, which are what ``docs/deploy.md`` and ``docs/cost.md`` describe.
Account and region are never written here: the region comes from the config or the CDK
environment, the account from the credentials ``cdk deploy`` runs with.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from k2.domain.markets import Exchange
from k2.domain.symbols import instrument


class Engine(StrEnum):
    """Where the Spark jobs run: the same scripts on either."""

    GLUE = "glue"
    EMR_SERVERLESS = "emr-serverless"


class MskMode(StrEnum):
    SERVERLESS = "serverless"
    PROVISIONED = "provisioned"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Schedules(_Frozen):
    """How often the scheduled runs start (the EventBridge Scheduler expressions)."""

    pipeline_minutes: int = Field(
        15, ge=5, le=1440, description="Catch-up run bronze → silver → gold, every N minutes."
    )
    ohlcv_minutes: int = Field(5, ge=1, le=1440, description="OHLCV bars, every N minutes.")
    maintenance_cron_hour_utc: int = Field(
        3, ge=0, le=23, description="Daily table maintenance starts at this UTC hour."
    )


class Retention(_Frozen):
    """How long things are kept. The lake itself is kept forever (the point of K2)."""

    log_days: int = Field(30, ge=1, description="CloudWatch log groups.")
    athena_results_days: int = Field(30, ge=1, description="Athena query results in S3.")
    noncurrent_version_days: int = Field(
        30, ge=1, description="Old S3 object versions of versioned buckets."
    )
    access_log_days: int = Field(365, ge=1, description="S3 server access logs.")


class AlarmThresholds(_Frozen):
    """When an alarm fires; each is explained where the alarm is defined."""

    freshness_seconds: int = Field(300, ge=30, description="Newest gold trade older than this.")
    dlq_records_per_5min: int = Field(
        100, ge=1, description="Records dead-lettered in 5 minutes, any reason."
    )
    api_p99_ms: int = Field(10_000, ge=100, description="API latency p99 over 5 minutes.")
    api_5xx_per_5min: int = Field(5, ge=1, description="API 5xx responses in 5 minutes.")
    gaps_per_hour: int = Field(1, ge=1, description="Unfilled trade-id gaps in an hour.")


class FeedHandlerSize(_Frozen):
    """One Fargate task per exchange (the handler is one asyncio process; more tasks would
    publish the same trades twice, which is harmless but wasteful)."""

    cpu: int = Field(512, description="Fargate CPU units (1024 = 1 vCPU).")
    memory_mib: int = Field(1024, description="Fargate memory.")

    @model_validator(mode="after")
    def _fargate_combination(self) -> FeedHandlerSize:
        allowed = {256: (512, 2048), 512: (1024, 4096), 1024: (2048, 8192), 2048: (4096, 16384)}
        if self.cpu not in allowed:
            raise ValueError(f"Fargate cpu must be one of {sorted(allowed)}, got {self.cpu}")
        low, high = allowed[self.cpu]
        if not low <= self.memory_mib <= high or self.memory_mib % 512:
            raise ValueError(
                f"Fargate memory for cpu {self.cpu} must be a multiple of 512 in [{low}, {high}]"
            )
        return self


class SparkJobSize(_Frozen):
    """Workers of each Spark job run (Glue G.1X: 1 DPU = 4 vCPU, 16 GB each; EMR Serverless
    gets the same vCPU and memory)."""

    workers: int = Field(2, ge=2, le=100, description="Including the driver (Glue's minimum is 2).")
    worker_type: str = Field("G.1X", pattern=r"^G\.(1|2|4|8)X$")
    timeout_minutes: int = Field(60, ge=1, le=2880)
    max_retries: int = Field(1, ge=0, le=10)


class ApiSize(_Frozen):
    memory_mib: int = Field(2048, ge=128, le=10240)
    timeout_seconds: int = Field(29, ge=1, le=29, description="API Gateway's integration limit.")
    rate_limit_rps: float = Field(50, gt=0, description="Usage plan steady rate per key.")
    burst_limit: int = Field(100, ge=1, description="Usage plan burst per key.")
    quota_per_day: int = Field(1_000_000, ge=1, description="Usage plan requests per key per day.")


class MskProvisionedSize(_Frozen):
    broker_instance_type: str = "kafka.m7g.large"
    broker_count: int = Field(3, ge=2, description="A multiple of the number of subnets.")
    volume_gib: int = Field(100, ge=1)


class DeploymentConfig(_Frozen):
    """Everything that differs between two K2 deployments."""

    environment: str = Field(
        "dev", description="Part of every resource name; lower-case letters, digits and '-'."
    )
    region: str | None = Field(
        None, description="None: the CDK environment's region (CDK_DEFAULT_REGION)."
    )
    exchanges: tuple[Exchange, ...] = (Exchange.BINANCE, Exchange.KRAKEN)
    binance_symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    kraken_symbols: tuple[str, ...] = ("BTC/USD", "ETH/USD")
    engine: Engine = Engine.GLUE
    msk: MskMode = MskMode.SERVERLESS
    max_azs: int = Field(2, ge=2, le=3, description="Availability zones of the VPC.")
    nat_gateways: int = Field(
        1, ge=1, le=3, description="Egress for the feed handlers to the exchanges."
    )
    schedules: Schedules = Schedules()
    retention: Retention = Retention()
    alarms: AlarmThresholds = AlarmThresholds()
    feed_handler: FeedHandlerSize = FeedHandlerSize()
    spark_job: SparkJobSize = SparkJobSize()
    api: ApiSize = ApiSize()
    msk_provisioned: MskProvisionedSize = MskProvisionedSize()
    alarm_email: str | None = Field(None, description="Subscribed to the alarm topic if set.")
    athena_bytes_scanned_cutoff: int = Field(
        10 * 2**30, ge=10 * 2**20, description="Per query; Athena's minimum is 10 MB."
    )

    @field_validator("environment")
    @classmethod
    def _resource_name_safe(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]{0,19}", value):
            raise ValueError(
                "environment must be 1-20 characters: a lower-case letter, then letters, "
                "digits or '-' (it becomes part of bucket and stack names)"
            )
        return value

    @field_validator("exchanges")
    @classmethod
    def _some_exchanges(cls, value: tuple[Exchange, ...]) -> tuple[Exchange, ...]:
        if not value or len(set(value)) != len(value):
            raise ValueError("exchanges must name each exchange at most once, and at least one")
        return value

    @model_validator(mode="after")
    def _symbols_for_each_exchange(self) -> DeploymentConfig:
        """Only deployed exchanges need symbols (a Kraken-only deployment may leave Binance's)."""
        for exchange in self.exchanges:
            if not self.symbols(exchange):
                raise ValueError(f"no symbols configured for {exchange}")
        return self

    @field_validator("binance_symbols")
    @classmethod
    def _known_binance_symbols(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        return _known_symbols(Exchange.BINANCE, symbols)

    @field_validator("kraken_symbols")
    @classmethod
    def _known_kraken_symbols(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        return _known_symbols(Exchange.KRAKEN, symbols)

    def symbols(self, exchange: Exchange) -> tuple[str, ...]:
        return self.binance_symbols if exchange is Exchange.BINANCE else self.kraken_symbols

    def resource_name(self, suffix: str) -> str:
        """``k2-<environment>-<suffix>``: the prefix every named resource shares."""
        return f"k2-{self.environment}-{suffix}"


def _known_symbols(exchange: Exchange, symbols: tuple[str, ...]) -> tuple[str, ...]:
    for symbol in symbols:
        instrument(exchange, symbol)  # UnknownSymbolError is a ValueError: a validation error
    return symbols


CONTEXT_KEY = "k2"
CONFIG_FILE_CONTEXT_KEY = "k2:config"


def load_deployment_config(context: dict[str, Any]) -> DeploymentConfig:
    """Merge ``cdk.json``'s ``k2`` object, the file named by ``k2:config`` and ``k2:<field>``
    overrides (later wins); nested fields are written ``k2:schedules.ohlcv_minutes``."""
    values = _context_value(context.get(CONTEXT_KEY) or {})  # `-c k2='{...}'` arrives as text
    if not isinstance(values, dict):
        raise ValueError(f"context {CONTEXT_KEY!r} must be a JSON object, got {values!r}")
    config_file = context.get(CONFIG_FILE_CONTEXT_KEY)
    if config_file:
        values = _merge(values, json.loads(Path(config_file).read_text()))
    for key, raw in context.items():
        if key.startswith(f"{CONTEXT_KEY}:") and key != CONFIG_FILE_CONTEXT_KEY:
            path = key.removeprefix(f"{CONTEXT_KEY}:").split(".")
            values = _merge(values, _nest(path, _context_value(raw)))
    return DeploymentConfig.model_validate(values)


def _context_value(raw: Any) -> Any:
    """``-c`` values arrive as strings; JSON ones (lists, numbers, objects) are decoded."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _nest(path: list[str], value: Any) -> dict[str, Any]:
    nested: Any = value
    for part in reversed(path):
        nested = {part: nested}
    return dict(nested)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged
