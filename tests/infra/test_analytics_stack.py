"""Analytics: an engine-v3 Athena workgroup with a scan cutoff, and our named queries."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from k2.deployment.config import DeploymentConfig
from k2.domain.markets import Exchange
from k2.query.named_queries import named_queries

pytestmark = pytest.mark.infra


def test_workgroup_enforces_engine_v3_results_encryption_and_cutoff(
    templates: dict[str, Template],
) -> None:
    templates["Analytics"].has_resource_properties(
        "AWS::Athena::WorkGroup",
        {
            "Name": "k2-dev-research",
            "WorkGroupConfiguration": Match.object_like(
                {
                    "EnforceWorkGroupConfiguration": True,
                    "BytesScannedCutoffPerQuery": DeploymentConfig().athena_bytes_scanned_cutoff,
                    "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                    "ResultConfiguration": Match.object_like(
                        {"EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}}
                    ),
                }
            ),
        },
    )


def test_named_queries_are_the_shared_definitions(templates: dict[str, Template]) -> None:
    queries = named_queries("k2_dev", list(Exchange))
    templates["Analytics"].resource_count_is("AWS::Athena::NamedQuery", len(queries))
    for query in queries:
        templates["Analytics"].has_resource_properties(
            "AWS::Athena::NamedQuery",
            {"Name": query.name, "Database": "k2_dev", "QueryString": query.sql},
        )
