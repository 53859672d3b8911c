"""The one container image behind every K2 Lambda function, and custom resources built on it.

The query API, the freshness check and both custom resources (Kafka topics, Iceberg tables)
import the same ``k2`` package with the same locked dependencies, so they share
``functions/api/Dockerfile`` and differ only in the handler the image's CMD names
(``docs/lambda-packaging.md``).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CustomResource, Duration, IgnoreMode
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra_cdk.log_retention import log_retention
from infra_cdk.nag import acknowledge, finding_resource
from infra_cdk.repo import FUNCTIONS_DOCKERFILE, REPO_ROOT, docker_context_excludes
from k2.packaging import lambda_entry_points

API_HANDLER = lambda_entry_points.API.command
KAFKA_TOPICS_HANDLER = lambda_entry_points.KAFKA_TOPICS.command
LAKE_INIT_HANDLER = lambda_entry_points.LAKE_INIT.command
FRESHNESS_HANDLER = lambda_entry_points.FRESHNESS.command


def function_image(handler: str) -> lambda_.DockerImageCode:
    """The functions image with ``handler`` as its command (one asset, built once per deploy)."""
    return lambda_.DockerImageCode.from_image_asset(
        str(REPO_ROOT),
        file=FUNCTIONS_DOCKERFILE,
        exclude=docker_context_excludes(FUNCTIONS_DOCKERFILE),
        ignore_mode=IgnoreMode.DOCKER,
        cmd=[handler],
    )


class K2CustomResource(Construct):
    """A CloudFormation custom resource whose handler is a function of the k2 image.

    The CDK provider framework does the CloudFormation response protocol; our handler only
    returns ``{"PhysicalResourceId", "Data"}`` or raises (which fails the deployment with the
    message). ``properties`` change → the handler runs again as an Update."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        environment: dict[str, str],
        properties: dict[str, Any],
        log_days: int,
        timeout_minutes: int = 10,
        memory_mib: int = 1024,
        vpc: ec2.IVpc | None = None,
        vpc_subnets: ec2.SubnetSelection | None = None,
        security_groups: list[ec2.ISecurityGroup] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        log_group = logs.LogGroup(self, "Logs", retention=log_retention(log_days))
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{construct_id} custom resource handler",
        )
        log_group.grant_write(self.role)
        if vpc is not None:
            self.role.add_to_policy(_vpc_networking_statement())
        self.function = lambda_.DockerImageFunction(
            self,
            "Handler",
            code=function_image(handler),
            role=self.role,
            timeout=Duration.minutes(timeout_minutes),
            memory_size=memory_mib,
            environment=environment,
            log_group=log_group,
            vpc=vpc,
            vpc_subnets=vpc_subnets,
            security_groups=security_groups,
            tracing=lambda_.Tracing.ACTIVE,
        )
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.function,
            log_group=logs.LogGroup(self, "ProviderLogs", retention=log_retention(log_days)),
        )
        self.resource = CustomResource(
            self, "Resource", service_token=provider.service_token, properties=properties
        )
        _acknowledge_provider_framework(provider, self.function)
        acknowledge_unscoped_actions(self.role, in_vpc=vpc is not None)


def acknowledge_unscoped_actions(role: iam.IRole, *, in_vpc: bool) -> None:
    """X-Ray's PutTraceSegments (and, in a VPC, ENI management) take no resource ARNs."""
    reason = "X-Ray trace upload (xray:PutTraceSegments, PutTelemetryRecords)"
    if in_vpc:
        reason += " and ENI management for a Lambda in a VPC (ec2:CreateNetworkInterface etc.)"
    acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        f"{reason} support no resource-level permissions; AWS documents Resource '*'.",
    )


def _vpc_networking_statement() -> iam.PolicyStatement:
    """What AWSLambdaVPCAccessExecutionRole grants, written out (no managed policy: IAM4)."""
    return iam.PolicyStatement(
        actions=[
            "ec2:CreateNetworkInterface",
            "ec2:DescribeNetworkInterfaces",
            "ec2:DeleteNetworkInterface",
            "ec2:AssignPrivateIpAddresses",
            "ec2:UnassignPrivateIpAddresses",
        ],
        resources=["*"],
    )


def _acknowledge_provider_framework(provider: cr.Provider, handler: lambda_.IFunction) -> None:
    """The provider framework's own function is generated by CDK; its findings are its design."""
    acknowledge(
        provider,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
        "AWSLambdaBasicExecutionRole]",
        "CDK's custom-resource provider framework function: its role is generated by CDK and "
        "only writes its own logs.",
    )
    acknowledge(
        provider,
        f"AwsSolutions-IAM5[Resource::{finding_resource(provider, handler.function_arn)}:*]",
        "CDK's provider framework may invoke any version of our handler function (ARN:*).",
    )
