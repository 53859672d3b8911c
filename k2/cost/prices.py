"""Published AWS on-demand prices, us-east-1, frozen on one date so every figure can be redone.

Each price names the AWS page it is published on. ``checked`` says whether the figure was
compared, on :data:`PRICES_DATE`, with a stored copy of that page or of AWS's price list (the
``checked_against`` text says which); ``False`` means the best-known published figure, not
re-checked, so it is the first thing to verify before trusting a total. No free tier is
subtracted anywhere: the account's free tier is small and shared with everything else in it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from types import MappingProxyType

PRICES_DATE = date(2026, 11, 26)
REGION = "us-east-1"
HOURS_PER_MONTH = Decimal(730)
"""AWS's own convention for a month in its pricing examples (8,760 h / 12)."""
BYTES_PER_GB = Decimal(2**30)
"""AWS bills data and storage in binary gigabytes (GiB), whatever the page calls them."""


@dataclass(frozen=True)
class Price:
    """One published unit price, with where it is published and whether we re-checked it."""

    usd: Decimal
    unit: str
    description: str
    source: str
    checked: bool
    checked_against: str = ""


_MSK = "https://aws.amazon.com/msk/pricing/"
_FARGATE = "https://aws.amazon.com/fargate/pricing/"
_GLUE = "https://aws.amazon.com/glue/pricing/"
_EMR = "https://aws.amazon.com/emr/pricing/"
_S3 = "https://aws.amazon.com/s3/pricing/"
_LAMBDA = "https://aws.amazon.com/lambda/pricing/"
_APIGW = "https://aws.amazon.com/api-gateway/pricing/"
_ATHENA = "https://aws.amazon.com/athena/pricing/"
_CLOUDWATCH = "https://aws.amazon.com/cloudwatch/pricing/"
_VPC = "https://aws.amazon.com/vpc/pricing/"
_PRIVATELINK = "https://aws.amazon.com/privatelink/pricing/"
_SECRETS = "https://aws.amazon.com/secrets-manager/pricing/"
_SFN = "https://aws.amazon.com/step-functions/pricing/"
_SCHEDULER = "https://aws.amazon.com/eventbridge/pricing/"
_ECR = "https://aws.amazon.com/ecr/pricing/"
_EC2 = "https://aws.amazon.com/ec2/pricing/on-demand/"


def _p(usd: str, unit: str, description: str, source: str, checked_against: str = "") -> Price:
    return Price(Decimal(usd), unit, description, source, bool(checked_against), checked_against)


@dataclass(frozen=True)
class PriceTable:
    """Every unit price the model uses. Field order is the order of the published table."""

    msk_serverless_cluster_hour: Price
    msk_serverless_partition_hour: Price
    msk_serverless_storage_gb_month: Price
    msk_serverless_data_in_gb: Price
    msk_serverless_data_out_gb: Price
    msk_provisioned_storage_gb_month: Price
    fargate_vcpu_hour: Price
    fargate_gb_hour: Price
    glue_dpu_hour: Price
    glue_catalog_million_requests: Price
    emr_serverless_vcpu_hour: Price
    emr_serverless_gb_hour: Price
    s3_standard_gb_month: Price
    s3_put_thousand: Price
    s3_get_thousand: Price
    lambda_gb_second: Price
    lambda_million_requests: Price
    api_gateway_rest_million: Price
    data_transfer_out_gb: Price
    athena_tb_scanned: Price
    cloudwatch_metric_month: Price
    cloudwatch_alarm_month: Price
    cloudwatch_dashboard_month: Price
    cloudwatch_logs_ingest_gb: Price
    cloudwatch_logs_storage_gb_month: Price
    nat_gateway_hour: Price
    nat_gateway_gb: Price
    public_ipv4_hour: Price
    interface_endpoint_hour: Price
    interface_endpoint_gb: Price
    secrets_manager_secret_month: Price
    step_functions_thousand_transitions: Price
    scheduler_million_invocations: Price
    ecr_storage_gb_month: Price

    def items(self) -> list[tuple[str, Price]]:
        """``(field name, price)`` in table order, for rendering and tests."""
        return [(field.name, getattr(self, field.name)) for field in fields(self)]


PRICES = PriceTable(
    msk_serverless_cluster_hour=_p(
        "0.75",
        "cluster-hour",
        "MSK Serverless cluster",
        _MSK,
        "copy of the MSK Serverless price table (gist EverettBerry, 2022); all five rates equal",
    ),
    msk_serverless_partition_hour=_p(
        "0.0015",
        "partition-hour",
        "MSK Serverless partition",
        _MSK,
        "same copy as the cluster-hour",
    ),
    msk_serverless_storage_gb_month=_p(
        "0.10", "GB-month", "MSK Serverless storage", _MSK, "same copy as the cluster-hour"
    ),
    msk_serverless_data_in_gb=_p(
        "0.10", "GB", "MSK Serverless data in", _MSK, "same copy as the cluster-hour"
    ),
    msk_serverless_data_out_gb=_p(
        "0.05", "GB", "MSK Serverless data out", _MSK, "same copy as the cluster-hour"
    ),
    msk_provisioned_storage_gb_month=_p(
        "0.10", "GB-month", "MSK provisioned broker storage (EBS)", _MSK
    ),
    fargate_vcpu_hour=_p(
        "0.04048",
        "vCPU-hour",
        "Fargate Linux/x86 vCPU",
        _FARGATE,
        "Vantage and Wring Fargate price guides (us-east-1, March 2026), FactualMinds (June 2026)",
    ),
    fargate_gb_hour=_p(
        "0.004445",
        "GB-hour",
        "Fargate Linux/x86 memory",
        _FARGATE,
        "same guides as the vCPU-hour",
    ),
    glue_dpu_hour=_p(
        "0.44",
        "DPU-hour",
        "Glue Spark job (billed per second, 1-minute minimum, Glue >= 2.0)",
        _GLUE,
        "AWS price list (AWSGlue.csv, effective 2024-11-01) and awsnegotiations.com (May 2026); "
        "the Glue pricing page: start-up time is not billed",
    ),
    glue_catalog_million_requests=_p(
        "1.00",
        "million requests",
        "Glue Data Catalog requests",
        _GLUE,
        "AWS price list (AWSGlue.csv, effective 2024-11-01)",
    ),
    emr_serverless_vcpu_hour=_p(
        "0.052624", "vCPU-hour", "EMR Serverless x86 vCPU (1-minute minimum per worker)", _EMR
    ),
    emr_serverless_gb_hour=_p("0.0057785", "GB-hour", "EMR Serverless x86 memory", _EMR),
    s3_standard_gb_month=_p("0.023", "GB-month", "S3 Standard storage, first 50 TB tier", _S3),
    s3_put_thousand=_p("0.005", "thousand requests", "S3 PUT/COPY/POST/LIST", _S3),
    s3_get_thousand=_p("0.0004", "thousand requests", "S3 GET/SELECT", _S3),
    lambda_gb_second=_p(
        "0.0000166667",
        "GB-second",
        "Lambda x86 compute",
        _LAMBDA,
        "serverless tutorial quoting the Lambda page (December 2025)",
    ),
    lambda_million_requests=_p(
        "0.20", "million requests", "Lambda requests", _LAMBDA, "same tutorial"
    ),
    api_gateway_rest_million=_p(
        "3.50",
        "million requests",
        "API Gateway REST API, first 333 million",
        _APIGW,
        "same tutorial; alestic.com invoice walk-through",
    ),
    data_transfer_out_gb=_p(
        "0.09",
        "GB",
        "Data transfer out to the internet, first 10 TB",
        _EC2,
        "same tutorial (API Gateway data transfer)",
    ),
    athena_tb_scanned=_p("5.00", "TB scanned", "Athena SQL queries", _ATHENA),
    cloudwatch_metric_month=_p(
        "0.30",
        "metric-month",
        "CloudWatch custom metric, first 10,000",
        _CLOUDWATCH,
        "SigNoz CloudWatch pricing guide (February 2026)",
    ),
    cloudwatch_alarm_month=_p(
        "0.10", "alarm-month", "CloudWatch standard-resolution alarm", _CLOUDWATCH
    ),
    cloudwatch_dashboard_month=_p(
        "3.00",
        "dashboard-month",
        "CloudWatch dashboard",
        _CLOUDWATCH,
        "FactualMinds CloudWatch pricing (June 2026)",
    ),
    cloudwatch_logs_ingest_gb=_p(
        "0.50",
        "GB",
        "CloudWatch Logs ingestion (standard class)",
        _CLOUDWATCH,
        "FactualMinds CloudWatch pricing (June 2026)",
    ),
    cloudwatch_logs_storage_gb_month=_p("0.03", "GB-month", "CloudWatch Logs storage", _CLOUDWATCH),
    nat_gateway_hour=_p(
        "0.045",
        "NAT gateway-hour",
        "NAT gateway",
        _VPC,
        "basavytix.com and cloudpipelines NAT pricing guides (2026), zacfukuda.com (June 2026)",
    ),
    nat_gateway_gb=_p(
        "0.045",
        "GB",
        "NAT gateway data processed (both directions)",
        _VPC,
        "same guides as the NAT gateway-hour",
    ),
    public_ipv4_hour=_p(
        "0.005",
        "IPv4-hour",
        "Public IPv4 address (the NAT gateway's Elastic IP)",
        _VPC,
        "cloudburn.io NAT gateway pricing guide (February 2026)",
    ),
    interface_endpoint_hour=_p(
        "0.01",
        "endpoint-AZ-hour",
        "Interface VPC endpoint, per AZ",
        _PRIVATELINK,
        "zacfukuda.com NAT gateway vs VPC endpoint (prices as of 2026-06-01)",
    ),
    interface_endpoint_gb=_p(
        "0.01",
        "GB",
        "Interface VPC endpoint data processed, first PB",
        _PRIVATELINK,
        "same article",
    ),
    secrets_manager_secret_month=_p("0.40", "secret-month", "Secrets Manager secret", _SECRETS),
    step_functions_thousand_transitions=_p(
        "0.025", "thousand state transitions", "Step Functions standard workflow", _SFN
    ),
    scheduler_million_invocations=_p(
        "1.00", "million invocations", "EventBridge Scheduler", _SCHEDULER
    ),
    ecr_storage_gb_month=_p("0.10", "GB-month", "ECR image storage", _ECR),
)

MSK_BROKER_HOURLY = MappingProxyType(
    {
        "kafka.m7g.large": _p("0.204", "broker-hour", "MSK standard broker kafka.m7g.large", _MSK),
        "kafka.m5.large": _p("0.21", "broker-hour", "MSK standard broker kafka.m5.large", _MSK),
    }
)
"""Provisioned MSK broker prices for the instance types the config is likely to name."""


def msk_broker_price(instance_type: str) -> Price:
    """The broker-hour price, or a clear error naming the types we have prices for."""
    try:
        return MSK_BROKER_HOURLY[instance_type]
    except KeyError:
        known = ", ".join(sorted(MSK_BROKER_HOURLY))
        raise ValueError(
            f"no MSK broker price for {instance_type!r} in k2.cost.prices (known: {known})"
        ) from None
