"""Configuration shared by every deployable.

Only endpoints and names differ between AWS and the local cloud, so they all come from the
environment (prefix ``K2_``); nothing here knows which of the two it is talking to except
``aws_endpoint_url``, which is unset in AWS.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaAuth(StrEnum):
    """How Kafka clients authenticate; ``k2.feeds.kafka_security`` turns it into client options."""

    PLAINTEXT = "plaintext"
    """No TLS, no authentication: the local cloud's broker."""
    MSK_IAM = "msk-iam"
    """SASL/IAM over TLS (port 9098), the only access MSK Serverless accepts."""


class K2Settings(BaseSettings):
    """Names and endpoints for one K2 environment."""

    model_config = SettingsConfigDict(env_prefix="K2_", extra="ignore", frozen=True)

    environment: str = Field("local", description="Environment name, part of every resource name.")
    region: str = "us-east-1"
    aws_endpoint_url: str | None = Field(
        None, description="The AWS endpoint (the local cloud's moto server); unset in AWS."
    )
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_auth: KafkaAuth = Field(
        KafkaAuth.PLAINTEXT, description="plaintext (the local broker) or msk-iam (MSK)."
    )
    glue_database: str = "k2_lakehouse"
    schema_registry_name: str = "k2-market-data"
    lake_bucket: str = "k2-local-lake"
    checkpoints_bucket: str = "k2-local-checkpoints"
    athena_results_bucket: str = "k2-local-athena-results"
    athena_workgroup: str = Field(
        "k2-local-research",
        description="The Athena work group for research SQL (k2-<environment>-research).",
    )
    state_dir: Path = Field(Path(".k2"), description="Where the local cloud keeps state and logs.")
    spark_jars: str = Field(
        "", description="Comma-separated connector jars for local Spark; AWS provides its own."
    )

    @cached_property
    def warehouse(self) -> str:
        return f"s3://{self.lake_bucket}/warehouse"

    def checkpoint_location(self, job_name: str) -> str:
        return f"s3://{self.checkpoints_bucket}/{job_name}"
