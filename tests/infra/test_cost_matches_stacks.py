"""The cost model prices what the stacks deploy: counted from the synthesised templates."""

from __future__ import annotations

import json

import pytest

from infra_cdk.cloud_assembly import STACK_CONCERNS, CloudAssembly
from k2.cost import model
from k2.deployment.config import DeploymentConfig
from k2.monitoring.alarms import platform_alarms

pytestmark = pytest.mark.infra


def _count(assembly: CloudAssembly, resource_type: str) -> int:
    return sum(len(assembly.resources(concern, resource_type)) for concern in STACK_CONCERNS)


def test_fixed_resources_are_the_ones_priced(assembly: CloudAssembly) -> None:
    config = DeploymentConfig()
    assert _count(assembly, "AWS::EC2::NatGateway") == config.nat_gateways
    endpoints = assembly.resources("Network", "AWS::EC2::VPCEndpoint")
    interface = [e for e in endpoints.values() if e["Properties"]["VpcEndpointType"] == "Interface"]
    assert len(interface) == len(model.INTERFACE_ENDPOINTS)
    for endpoint in interface:  # one ENI per AZ each, as priced
        assert len(endpoint["Properties"]["SubnetIds"]) == config.max_azs
    alarms = len(platform_alarms(config.alarms, config.exchanges)) + model.RUN_FAILURE_ALARMS
    assert _count(assembly, "AWS::CloudWatch::Alarm") == alarms
    assert _count(assembly, "AWS::CloudWatch::Dashboard") == model.DASHBOARDS
    assert _count(assembly, "AWS::SecretsManager::Secret") == model.SECRETS


def test_compute_sizes_are_the_ones_priced(assembly: CloudAssembly) -> None:
    config = DeploymentConfig()
    tasks = assembly.resources("Ingestion", "AWS::ECS::TaskDefinition").values()
    assert len(tasks) == len(config.exchanges)  # one task per exchange, as priced
    for task in tasks:
        assert int(task["Properties"]["Cpu"]) == config.feed_handler.cpu
        assert int(task["Properties"]["Memory"]) == config.feed_handler.memory_mib
    for job in assembly.resources("Processing", "AWS::Glue::Job").values():
        assert job["Properties"]["WorkerType"] == config.spark_job.worker_type
        assert job["Properties"]["NumberOfWorkers"] == config.spark_job.workers
    (api,) = [
        f
        for f in assembly.resources("Api", "AWS::Lambda::Function").values()
        if f["Properties"].get("ImageConfig", {}).get("Command") == ["handler.handler"]
    ]
    assert api["Properties"]["MemorySize"] == config.api.memory_mib


def test_pipeline_runs_as_many_jobs_as_priced(assembly: CloudAssembly) -> None:
    """Per pipeline run the model bills bronze and silver once per (exchange, data type) and
    gold once per data type; the state machine starts exactly those runs."""
    config = DeploymentConfig()
    machines = assembly.resources("Processing", "AWS::StepFunctions::StateMachine").values()
    (pipeline,) = [m for m in machines if m["Properties"]["StateMachineName"].endswith("pipeline")]
    definition = json.dumps(pipeline["Properties"]["DefinitionString"])
    per_kind = len(config.exchanges) * 2
    assert definition.count("glue:startJobRun.sync") == per_kind + per_kind + 2
