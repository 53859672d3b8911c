"""Ingestion: one Fargate service per exchange, restarted on failure, least privilege."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from infra_cdk.cloud_assembly import CloudAssembly, as_list, statements
from k2.feeds.feed_settings import FeedSettings
from k2.settings import K2Settings
from tests.infra.settings_variables import settings_variables

pytestmark = pytest.mark.infra


def test_one_service_per_configured_exchange(
    templates: dict[str, Template], alternative_templates: dict[str, Template]
) -> None:
    templates["Ingestion"].resource_count_is("AWS::ECS::Service", 2)
    alternative_templates["Ingestion"].resource_count_is("AWS::ECS::Service", 1)
    for exchange in ("binance", "kraken"):
        templates["Ingestion"].has_resource_properties(
            "AWS::ECS::TaskDefinition",
            {"ContainerDefinitions": [Match.object_like({"Command": ["--exchange", exchange]})]},
        )


def test_services_restart_and_roll_back_and_run_private(templates: dict[str, Template]) -> None:
    templates["Ingestion"].has_resource_properties(
        "AWS::ECS::Service",
        {
            "DesiredCount": 1,
            "LaunchType": "FARGATE",
            "DeploymentConfiguration": Match.object_like(
                {"DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}}
            ),
            "NetworkConfiguration": {
                "AwsvpcConfiguration": Match.object_like({"AssignPublicIp": "DISABLED"})
            },
        },
    )


def test_containers_log_and_report_health(assembly: CloudAssembly) -> None:
    for task in assembly.resources("Ingestion", "AWS::ECS::TaskDefinition").values():
        (container,) = task["Properties"]["ContainerDefinitions"]
        assert container["LogConfiguration"]["LogDriver"] == "awslogs"
        assert container["HealthCheck"]["Command"][:4] == [
            "CMD",
            "python",
            "-m",
            "k2.feeds.liveness",
        ]


def test_environment_is_what_the_settings_classes_read(assembly: CloudAssembly) -> None:
    """Every variable the stack sets is a field of K2Settings or FeedSettings (no typos)."""
    known = settings_variables(K2Settings, FeedSettings)
    for task in assembly.resources("Ingestion", "AWS::ECS::TaskDefinition").values():
        (container,) = task["Properties"]["ContainerDefinitions"]
        names = {variable["Name"] for variable in container["Environment"]}
        assert names <= known, names - known
        assert {"K2_KAFKA_BOOTSTRAP_SERVERS", "K2_KAFKA_AUTH", "K2_FEED_EXCHANGE"} <= names


def test_task_role_may_write_k2_topics_and_its_schemas_only(assembly: CloudAssembly) -> None:
    granted = statements(assembly.template("Ingestion"))
    actions = {action for s in granted for action in as_list(s["Action"])}
    assert {"kafka-cluster:WriteData", "kafka-cluster:WriteDataIdempotently"} <= actions
    assert "kafka-cluster:CreateTopic" not in actions  # topics come from the custom resource
    assert "kafka-cluster:AlterCluster" not in actions
    writes = [s for s in granted if "kafka-cluster:WriteData" in as_list(s["Action"])]
    assert all("market.crypto.*" in json.dumps(s["Resource"]) for s in writes)
