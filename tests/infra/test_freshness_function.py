"""The freshness check in AWS: the image's freshness handler, every minute, reading only the gold
trades table, writing the GoldTradeAge the freshness alarms read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra_cdk.cloud_assembly import CloudAssembly, as_list
from k2.deployment.config import DeploymentConfig
from k2.jobs.freshness import FreshnessSettings
from k2.settings import K2Settings
from tests.infra.settings_variables import settings_variables

pytestmark = pytest.mark.infra

COMMAND = ["freshness_handler.handler"]


def _function(assembly: CloudAssembly) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (logical_id, function["Properties"])
        for logical_id, function in assembly.resources(
            "Observability", "AWS::Lambda::Function"
        ).items()
        if function["Properties"].get("ImageConfig", {}).get("Command") == COMMAND
    ]
    return found


def _role_statements(assembly: CloudAssembly, role_arn: dict[str, Any]) -> list[dict[str, Any]]:
    (role_id, _) = role_arn["Fn::GetAtt"]
    role = assembly.resources("Observability")[role_id]["Properties"]
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    return [
        statement
        for policy in assembly.resources("Observability", "AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_the_check_is_the_functions_image_with_its_own_command(assembly: CloudAssembly) -> None:
    _, function = _function(assembly)
    assert function["PackageType"] == "Image"
    assert function["FunctionName"] == "k2-dev-freshness"
    assert function["MemorySize"] == 1024
    assert function["Timeout"] == 60
    assert function["ReservedConcurrentExecutions"] == 1
    assert function["TracingConfig"] == {"Mode": "Active"}
    assert "VpcConfig" not in function  # Glue and S3 only, like the query API
    (api,) = assembly.resources("Api", "AWS::Lambda::Function").values()
    assert function["Code"]["ImageUri"] == api["Properties"]["Code"]["ImageUri"]  # one image


def test_a_late_run_is_dropped_not_retried(assembly: CloudAssembly) -> None:
    logical_id, _ = _function(assembly)
    (config,) = assembly.resources("Observability", "AWS::Lambda::EventInvokeConfig").values()
    assert config["Properties"]["FunctionName"] == {"Ref": logical_id}
    assert config["Properties"]["MaximumRetryAttempts"] == 0
    assert config["Properties"]["MaximumEventAgeInSeconds"] == 60


def test_scheduler_starts_it_every_minute_and_may_invoke_nothing_else(
    assembly: CloudAssembly,
) -> None:
    logical_id, _ = _function(assembly)
    (schedule,) = [
        s["Properties"]
        for s in assembly.resources("Observability", "AWS::Scheduler::Schedule").values()
    ]
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule.get("State", "ENABLED") == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    target = schedule["Target"]
    assert target["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]}
    (statement,) = _role_statements(assembly, target["RoleArn"])
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"] == {"Fn::GetAtt": [logical_id, "Arn"]}


def test_environment_is_what_the_settings_classes_read(
    assembly: CloudAssembly, alternative: CloudAssembly, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = settings_variables(K2Settings, FreshnessSettings)
    for synthesised, exchanges in ((assembly, ["binance", "kraken"]), (alternative, ["kraken"])):
        _, function = _function(synthesised)
        variables = function["Environment"]["Variables"]
        names = {name for name in variables if name.startswith("K2_")}
        assert names <= known, names - known
        assert variables["POWERTOOLS_SERVICE_NAME"] == "k2-freshness"
        monkeypatch.setenv("K2_FRESHNESS_EXCHANGES", variables["K2_FRESHNESS_EXCHANGES"])
        assert [e.value for e in FreshnessSettings().exchanges] == exchanges
    _, function = _function(assembly)
    assert function["Environment"]["Variables"]["K2_GLUE_DATABASE"] == "k2_dev"


def test_every_freshness_alarm_watches_an_exchange_the_check_measures(
    assembly: CloudAssembly,
) -> None:
    _, function = _function(assembly)
    measured = set(json.loads(function["Environment"]["Variables"]["K2_FRESHNESS_EXCHANGES"]))
    watched = set()
    for alarm in assembly.resources("Observability", "AWS::CloudWatch::Alarm").values():
        for query in alarm["Properties"].get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("MetricName") != "GoldTradeAge":
                continue
            assert metric["Namespace"] == "K2"
            dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            assert dimensions["service"] == "k2-freshness"
            watched.add(dimensions["exchange"])
    assert watched == measured == {"binance", "kraken"}


def test_it_may_only_read_the_gold_trades_table_and_the_warehouse(
    assembly: CloudAssembly,
) -> None:
    _, function = _function(assembly)
    by_action: dict[str, list[dict[str, Any]]] = {}
    for statement in _role_statements(assembly, function["Role"]):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).append(statement)
    assert set(by_action) == {
        "glue:GetTable",
        "s3:GetObject",
        "s3:ListBucket",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
    (glue,) = by_action["glue:GetTable"]
    glue_resources = json.dumps(glue["Resource"])
    assert ":table/k2_dev/gold_crypto_trades" in glue_resources
    assert "*" not in glue_resources
    (get,) = by_action["s3:GetObject"]
    get_resource = json.dumps(get["Resource"])
    assert "k2-dev-lake-" in get_resource and get_resource.endswith('/warehouse/*"]]}')
    (listing,) = by_action["s3:ListBucket"]
    assert "k2-dev-lake-" in json.dumps(listing["Resource"])
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["warehouse", "warehouse/*"]}}
    (logs,) = by_action["logs:PutLogEvents"]
    (log_group_id,) = assembly.resources("Observability", "AWS::Logs::LogGroup").keys() & {
        ref["Fn::GetAtt"][0] for ref in as_list(logs["Resource"])
    }
    assert function["LoggingConfig"]["LogGroup"] == {"Ref": log_group_id}


def test_its_logs_are_kept_as_configured(assembly: CloudAssembly) -> None:
    _, function = _function(assembly)
    (log_group_id,) = function["LoggingConfig"]["LogGroup"].values()
    log_group = assembly.resources("Observability")[log_group_id]["Properties"]
    assert log_group["RetentionInDays"] == DeploymentConfig().retention.log_days == 30
