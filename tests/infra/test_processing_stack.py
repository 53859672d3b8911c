"""Processing: Glue 5.1 jobs (or EMR Serverless), scheduled state machines with retries."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from infra_cdk.cloud_assembly import CloudAssembly
from infra_cdk.spark_runners import GLUE_VERSION, STAGES
from k2.settings import K2Settings
from tests.infra.settings_variables import settings_variables

pytestmark = pytest.mark.infra


def test_one_glue_5_1_job_per_stage_running_our_scripts(assembly: CloudAssembly) -> None:
    jobs = assembly.resources("Processing", "AWS::Glue::Job")
    assert sorted(job["Properties"]["Name"] for job in jobs.values()) == sorted(
        f"k2-dev-{stage}" for stage in STAGES
    )
    known = {f"--{variable}" for variable in settings_variables(K2Settings)}
    for job in jobs.values():
        properties = job["Properties"]
        assert properties["GlueVersion"] == GLUE_VERSION == "5.1"
        assert properties["Command"]["Name"] == "glueetl"
        arguments = properties["DefaultArguments"]
        assert arguments["--datalake-formats"] == "iceberg"
        assert "python/k2-0.1.0-py3-none-any.whl" in json.dumps(
            arguments["--additional-python-modules"]
        )
        assert "aws-msk-iam-auth" in json.dumps(arguments["--extra-jars"])
        settings = {name for name in arguments if name.startswith("--K2_")}
        assert settings <= known, settings - known  # every --K2_ is a real setting
        assert {"--K2_AWS_ENDPOINT_URL", "--K2_SPARK_JARS"}.isdisjoint(settings)  # local only
        assert properties["Connections"]["Connections"] == ["k2-dev-vpc"]


def test_pipeline_runs_bronze_then_silver_then_gold_with_retries(assembly: CloudAssembly) -> None:
    machines = assembly.resources("Processing", "AWS::StepFunctions::StateMachine")
    assert len(machines) == 3
    pipeline = next(
        m for m in machines.values() if m["Properties"]["StateMachineName"] == "k2-dev-pipeline"
    )
    definition = json.dumps(pipeline["Properties"]["DefinitionString"])
    order = [definition.find(f"{stage.title()}Runs") for stage in ("Bronze", "Silver", "Gold")]
    assert -1 not in order and order == sorted(order)
    assert definition.count("glue:startJobRun.sync") >= 2 + 4 + 4  # 4 bronze, 4 silver, 2 gold
    assert (
        "States.TaskFailed" in definition and "Glue.ConcurrentRunsExceededException" in definition
    )
    for machine in machines.values():
        assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}
        assert machine["Properties"]["LoggingConfiguration"]["Level"] == "ALL"


def test_schedules_follow_the_config(
    templates: dict[str, Template], alternative_templates: dict[str, Template]
) -> None:
    for expression in ("rate(15 minutes)", "rate(5 minutes)", "cron(0 3 * * ? *)"):
        templates["Processing"].has_resource_properties(
            "AWS::Scheduler::Schedule", {"ScheduleExpression": expression}
        )
    alternative_templates["Processing"].has_resource_properties(
        "AWS::Scheduler::Schedule", {"ScheduleExpression": "rate(10 minutes)"}
    )


def test_emr_serverless_alternative_replaces_glue(
    alternative_templates: dict[str, Template], alternative: CloudAssembly
) -> None:
    processing = alternative_templates["Processing"]
    processing.resource_count_is("AWS::Glue::Job", 0)
    processing.has_resource_properties(
        "AWS::EMRServerless::Application",
        {"Type": "Spark", "ReleaseLabel": Match.string_like_regexp(r"^emr-7\.")},
    )
    machines = alternative.resources("Processing", "AWS::StepFunctions::StateMachine")
    definitions = json.dumps([m["Properties"]["DefinitionString"] for m in machines.values()])
    assert "emr-serverless:startJobRun.sync" in definitions
    assert "glue:startJobRun" not in definitions
