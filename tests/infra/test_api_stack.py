"""API: the k2 image's Lambda behind REST {proxy+}, keys, usage plan, gateway responses."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from infra_cdk.cloud_assembly import CloudAssembly
from k2.api.gateway_contract import GATEWAY_ERRORS, KEYLESS_ROUTES
from k2.api.settings import ApiSettings
from k2.deployment.config import ApiSize
from k2.settings import K2Settings
from tests.infra.settings_variables import settings_variables

pytestmark = pytest.mark.infra


def test_lambda_runs_the_api_handler_from_the_image(templates: dict[str, Template]) -> None:
    templates["Api"].has_resource_properties(
        "AWS::Lambda::Function",
        {
            "PackageType": "Image",
            "ImageConfig": {"Command": ["handler.handler"]},
            "TracingConfig": {"Mode": "Active"},
            "MemorySize": ApiSize().memory_mib,
            "Environment": {
                "Variables": Match.object_like(
                    {"K2_API_KEYS_SECRET_ID": Match.object_like({"Ref": Match.any_value()})}
                )
            },
        },
    )


def test_environment_is_what_the_settings_classes_read(assembly: CloudAssembly) -> None:
    known = settings_variables(K2Settings, ApiSettings)
    for function in assembly.resources("Api", "AWS::Lambda::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        names = {name for name in variables if name.startswith("K2_")}
        assert names <= known, names - known


def test_every_route_needs_a_key_except_the_keyless_ones(assembly: CloudAssembly) -> None:
    methods = assembly.resources("Api", "AWS::ApiGateway::Method")
    keyless = [m for m in methods.values() if not m["Properties"].get("ApiKeyRequired")]
    assert len(keyless) == len(KEYLESS_ROUTES)
    assert {m["Properties"]["HttpMethod"] for m in keyless} == {
        method for method, _ in KEYLESS_ROUTES
    }
    proxied = [m for m in methods.values() if m["Properties"]["HttpMethod"] == "ANY"]
    assert len(proxied) == 2 and all(m["Properties"]["ApiKeyRequired"] for m in proxied)


def test_usage_plan_throttles_and_caps_the_key_from_secrets_manager(
    templates: dict[str, Template],
) -> None:
    size = ApiSize()
    api = templates["Api"]
    api.has_resource_properties(
        "AWS::ApiGateway::UsagePlan",
        {
            "Throttle": {"RateLimit": size.rate_limit_rps, "BurstLimit": size.burst_limit},
            "Quota": {"Limit": size.quota_per_day, "Period": "DAY"},
        },
    )
    api.has_resource_properties(
        "AWS::ApiGateway::ApiKey",
        {
            "Value": Match.object_like(
                {
                    "Fn::Join": Match.array_with(
                        [Match.array_with([Match.string_like_regexp("resolve:secretsmanager")])]
                    )
                }
            )
        },
    )
    api.resource_count_is("AWS::SecretsManager::Secret", 1)


def test_gateway_errors_use_the_k2_envelope(templates: dict[str, Template]) -> None:
    for error in GATEWAY_ERRORS:
        properties: dict[str, object] = {
            "ResponseType": error.response_type,
            "StatusCode": str(error.status),
        }
        templates["Api"].has_resource_properties("AWS::ApiGateway::GatewayResponse", properties)
    responses = templates["Api"].find_resources("AWS::ApiGateway::GatewayResponse")
    for response in responses.values():
        body = json.loads(response["Properties"]["ResponseTemplates"]["application/json"])
        assert body["success"] is False and body["error"]["code"]
        if response["Properties"]["StatusCode"] == "429":
            assert (
                "gatewayresponse.header.Retry-After" in response["Properties"]["ResponseParameters"]
            )


def test_stage_logs_access_and_traces(templates: dict[str, Template]) -> None:
    templates["Api"].has_resource_properties(
        "AWS::ApiGateway::Stage",
        {
            "StageName": "dev",
            "TracingEnabled": True,
            "AccessLogSetting": Match.object_like({"DestinationArn": Match.any_value()}),
        },
    )
