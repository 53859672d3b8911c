"""The VPC every private workload runs in: feed handlers, Spark jobs, the topic custom resource.

Private subnets with one or more NAT gateways (the feed handlers must reach the exchanges; Glue
installs the k2 wheel's dependencies from PyPI), the S3 gateway endpoint (free, and keeps lake
traffic off the NAT) and interface endpoints for the AWS APIs the jobs call most.
"""

from __future__ import annotations

from aws_cdk import Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra_cdk.log_retention import log_retention
from infra_cdk.nag import acknowledge
from k2.deployment.config import DeploymentConfig

INTERFACE_ENDPOINTS: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "Glue": ec2.InterfaceVpcEndpointAwsService.GLUE,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Monitoring": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING,
    "EcrApi": ec2.InterfaceVpcEndpointAwsService.ECR,
    "EcrDocker": ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
}
"""Interface endpoints (priced per AZ-hour in ``k2 cost``, which reads this count)."""


class NetworkStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            max_azs=config.max_azs,
            nat_gateways=config.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
                ec2.SubnetConfiguration(
                    name="private", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
                ),
            ],
            gateway_endpoints={
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3)
            },
            restrict_default_security_group=True,
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(
                logs.LogGroup(
                    self,
                    "FlowLogs",
                    retention=log_retention(config.retention.log_days),
                )
            ),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        private = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        for name, service in INTERFACE_ENDPOINTS.items():
            endpoint = self.vpc.add_interface_endpoint(name, service=service, subnets=private)
            acknowledge(
                endpoint,
                "AwsSolutions-EC23",
                "The endpoint's group admits HTTPS from the VPC's own CIDR only; the rule cannot "
                "read a CIDR that is a CloudFormation attribute at synth time.",
            )
        self.kafka_clients = ec2.SecurityGroup(
            self,
            "KafkaClients",
            vpc=self.vpc,
            description="Members reach the MSK cluster: feed handlers, Spark jobs, topic admin",
            allow_all_outbound=True,
        )
        self.private_subnets = private
