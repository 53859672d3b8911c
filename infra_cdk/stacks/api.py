"""The query API: the k2 image's Lambda behind API Gateway REST (``{proxy+}``), with API keys,
a usage plan (throttle and quota), access logs, X-Ray, and the key in Secrets Manager.

The gateway is configured like the local one (``k2.api.gateway_contract``): the same keyless
routes and the same error envelope for the errors the gateway makes itself.
"""

from __future__ import annotations

import json

from aws_cdk import CfnOutput, Duration, Environment, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra_cdk.functions_image import API_HANDLER, acknowledge_unscoped_actions, function_image
from infra_cdk.log_retention import log_retention
from infra_cdk.nag import acknowledge
from infra_cdk.stacks.lakehouse import LakehouseStack
from k2.api.gateway_contract import API_KEY_HEADER, GATEWAY_ERRORS, KEYLESS_ROUTES
from k2.deployment.config import DeploymentConfig


class ApiStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        lakehouse: LakehouseStack,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env)
        self.api_name = config.resource_name("api")
        self.key_secret = secretsmanager.Secret(
            self,
            "ApiKeySecret",
            description="The K2 API key (K2_API_KEYS_SECRET_ID); also the API Gateway key value",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=40, exclude_punctuation=True, include_space=False
            ),
        )
        acknowledge(
            self.key_secret,
            "AwsSolutions-SMG4",
            "The secret is the API Gateway key's value as well: rotating it alone would split "
            "the two, so keys are rotated by redeploying with a new secret (docs/deploy.md).",
        )
        function_logs = logs.LogGroup(
            self, "FunctionLogs", retention=log_retention(config.retention.log_days)
        )
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            function_name=self.api_name,
            code=function_image(API_HANDLER),
            memory_size=config.api.memory_mib,
            timeout=Duration.seconds(config.api.timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=function_logs,
            environment={
                **lakehouse.settings_environment(),
                "K2_API_KEYS_SECRET_ID": self.key_secret.secret_arn,
                "POWERTOOLS_SERVICE_NAME": "k2-api",
                "POWERTOOLS_METRICS_NAMESPACE": "K2",
            },
        )
        role = self.function.role
        assert role is not None
        self.key_secret.grant_read(role)
        role.add_to_principal_policy(lakehouse.catalog_statement(write=False))
        lakehouse.grant_warehouse(role, write=False)
        lakehouse.acknowledge_catalog_tables(role)
        acknowledge_unscoped_actions(role, in_vpc=False)
        acknowledge(
            role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "Lambda's basic execution policy only lets the function write its own logs.",
        )
        self.api = self._rest_api(config)
        CfnOutput(self, "ApiUrl", value=self.api.url, description="The API's base URL (its stage)")
        CfnOutput(
            self,
            "ApiKeySecretArn",
            value=self.key_secret.secret_arn,
            description="Secrets Manager secret holding the API key (X-API-Key)",
        )

    def _rest_api(self, config: DeploymentConfig) -> apigw.RestApi:
        access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention(config.retention.log_days)
        )
        api = apigw.LambdaRestApi(
            self,
            "Api",
            rest_api_name=self.api_name,
            handler=self.function,
            proxy=False,
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                # the environment, as the local gateway's stage is "local"; routes are /v1/...
                stage_name=config.environment,
                access_log_destination=apigw.LogGroupLogDestination(access_logs),
                access_log_format=apigw.AccessLogFormat.json_with_standard_fields(
                    caller=False,
                    http_method=True,
                    ip=True,
                    protocol=True,
                    request_time=True,
                    resource_path=True,
                    response_length=True,
                    status=True,
                    user=False,
                ),
                tracing_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                metrics_enabled=True,
            ),
            default_method_options=apigw.MethodOptions(api_key_required=True),
            api_key_source_type=apigw.ApiKeySourceType.HEADER,
        )
        proxy = api.root.add_resource("{proxy+}")
        proxy.add_method("ANY")
        api.root.add_method("ANY")
        for method, path in sorted(KEYLESS_ROUTES):
            resource = api.root.resource_for_path(path)
            resource.add_method(method, api_key_required=False)
        plan = api.add_usage_plan(
            "UsagePlan",
            name=config.resource_name("default"),
            throttle=apigw.ThrottleSettings(
                rate_limit=config.api.rate_limit_rps, burst_limit=config.api.burst_limit
            ),
            quota=apigw.QuotaSettings(limit=config.api.quota_per_day, period=apigw.Period.DAY),
        )
        plan.add_api_stage(stage=api.deployment_stage)
        key = api.add_api_key(
            "DefaultKey",
            api_key_name=config.resource_name("default-key"),
            value=self.key_secret.secret_value.unsafe_unwrap(),
        )
        plan.add_api_key(key)
        for error in GATEWAY_ERRORS:
            headers = {"Content-Type": "'application/json'"}
            if error.retry_after_s is not None:
                headers["Retry-After"] = f"'{error.retry_after_s}'"
            api.add_gateway_response(
                error.response_type,
                type=apigw.ResponseType.of(error.response_type),
                status_code=str(error.status),
                response_headers=headers,
                templates={"application/json": _envelope(error.code, error.message)},
            )
        self._acknowledge_api(api)
        return api

    def _acknowledge_api(self, api: apigw.RestApi) -> None:
        acknowledge(
            api,
            "AwsSolutions-APIG2",
            "Requests are validated by the application (FastAPI/pydantic models) and answered "
            "with a 4xx envelope; a gateway request validator would duplicate that schema.",
        )
        acknowledge(
            api,
            "AwsSolutions-APIG3",
            "No WAF: access needs an API key, the usage plan throttles and caps each key, and "
            "WAF's fixed monthly cost is out of proportion for a research API (docs/cost.md).",
        )
        acknowledge(
            api,
            "AwsSolutions-APIG4",
            f"Callers authenticate with an API key ({API_KEY_HEADER}), checked by API Gateway "
            "against the usage plan and again by the application in constant time; keyless "
            "routes are only /health, /docs and /openapi.json.",
        )
        acknowledge(
            api,
            "AwsSolutions-COG4",
            "API keys, not Cognito: the API's users are programs (research notebooks, "
            "compliance jobs), not people signing in.",
        )
        acknowledge(
            api,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "API Gateway's account-level logging role: the AWS policy is the documented way to "
            "let API Gateway write execution logs.",
        )


def _envelope(code: str, message: str) -> str:
    """K2's error envelope as a gateway response template (no variables: a fixed body)."""
    return json.dumps({"success": False, "error": {"code": code, "message": message}})
