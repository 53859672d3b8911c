"""MSK with IAM auth (Serverless by default, provisioned as the alternative) and its topics.

The topics are created by a custom resource that runs the same ``platform_topics()`` the local
cloud creates, so partitions and retention are defined once (``k2.domain.markets``). MSK
Serverless exposes no bootstrap-broker attribute to CloudFormation, so ``GetBootstrapBrokers``
is called by an ``AwsCustomResource`` at deploy time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from typing import Any

from aws_cdk import Environment, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_msk as msk
from aws_cdk import custom_resources as cr
from constructs import Construct

from infra_cdk.functions_image import KAFKA_TOPICS_HANDLER, K2CustomResource
from infra_cdk.log_retention import log_retention
from infra_cdk.nag import acknowledge, finding_resource
from infra_cdk.stacks.network import NetworkStack
from k2.deployment.config import DeploymentConfig, MskMode
from k2.domain.markets import platform_topics

KAFKA_VERSION = "3.9.x"
IAM_PORT = 9098
TOPIC_PREFIX = "market.crypto."


class StreamingStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeploymentConfig,
        network: NetworkStack,
        env: Environment | None = None,
    ) -> None:
        super().__init__(scope, construct_id, env=env)
        self.cluster_name = config.resource_name("kafka")
        self.broker_security_group = ec2.SecurityGroup(
            self,
            "Brokers",
            vpc=network.vpc,
            description="MSK brokers: IAM-authenticated TLS from the Kafka clients group only",
            allow_all_outbound=False,
        )
        self.broker_security_group.add_ingress_rule(
            network.kafka_clients, ec2.Port.tcp(IAM_PORT), "Kafka over TLS with IAM auth"
        )
        subnet_ids = network.vpc.select_subnets(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS
        ).subnet_ids
        if config.msk is MskMode.SERVERLESS:
            self.cluster_arn = self._serverless_cluster(subnet_ids)
        else:
            self.cluster_arn = self._provisioned_cluster(config, subnet_ids)
        self.bootstrap_servers = self._bootstrap_brokers(config)
        self.topics = K2CustomResource(
            self,
            "Topics",
            handler=KAFKA_TOPICS_HANDLER,
            environment={
                **self.settings_environment(),
                "POWERTOOLS_SERVICE_NAME": "k2-kafka-topics",
            },
            properties={"TopicsFingerprint": topics_fingerprint()},
            log_days=config.retention.log_days,
            vpc=network.vpc,
            vpc_subnets=network.private_subnets,
            security_groups=[network.kafka_clients],
        )
        self.topics.role.add_to_policy(self.cluster_connect_statement())
        self.topics.role.add_to_policy(
            iam.PolicyStatement(
                actions=[
                    "kafka-cluster:CreateTopic",
                    "kafka-cluster:DescribeTopic",
                    "kafka-cluster:AlterTopic",
                    "kafka-cluster:DescribeTopicDynamicConfiguration",
                    "kafka-cluster:AlterTopicDynamicConfiguration",
                ],
                resources=[self.topic_arn(f"{TOPIC_PREFIX}*")],
            )
        )
        own_topics = finding_resource(self, self.topic_arn(f"{TOPIC_PREFIX}*"))
        acknowledge(
            self.topics.role,
            f"AwsSolutions-IAM5[Resource::{own_topics}]",
            "Scoped to K2's own topics (market.crypto.*) of this cluster; the topic names are "
            "the platform's and are listed in k2.domain.markets.",
        )

    def _serverless_cluster(self, subnet_ids: list[str]) -> str:
        cluster = msk.CfnServerlessCluster(
            self,
            "Cluster",
            cluster_name=self.cluster_name,
            client_authentication=msk.CfnServerlessCluster.ClientAuthenticationProperty(
                sasl=msk.CfnServerlessCluster.SaslProperty(
                    iam=msk.CfnServerlessCluster.IamProperty(enabled=True)
                )
            ),
            vpc_configs=[
                msk.CfnServerlessCluster.VpcConfigProperty(
                    subnet_ids=subnet_ids,
                    security_groups=[self.broker_security_group.security_group_id],
                )
            ],
        )
        return cluster.attr_arn

    def _provisioned_cluster(self, config: DeploymentConfig, subnet_ids: list[str]) -> str:
        size = config.msk_provisioned
        broker_logs = logs.LogGroup(
            self, "BrokerLogs", retention=log_retention(config.retention.log_days)
        )
        cluster = msk.CfnCluster(
            self,
            "Cluster",
            cluster_name=self.cluster_name,
            kafka_version=KAFKA_VERSION,
            number_of_broker_nodes=size.broker_count,
            broker_node_group_info=msk.CfnCluster.BrokerNodeGroupInfoProperty(
                client_subnets=subnet_ids,
                instance_type=size.broker_instance_type,
                security_groups=[self.broker_security_group.security_group_id],
                storage_info=msk.CfnCluster.StorageInfoProperty(
                    ebs_storage_info=msk.CfnCluster.EBSStorageInfoProperty(
                        volume_size=size.volume_gib
                    )
                ),
            ),
            client_authentication=msk.CfnCluster.ClientAuthenticationProperty(
                sasl=msk.CfnCluster.SaslProperty(iam=msk.CfnCluster.IamProperty(enabled=True)),
                unauthenticated=msk.CfnCluster.UnauthenticatedProperty(enabled=False),
            ),
            encryption_info=msk.CfnCluster.EncryptionInfoProperty(
                encryption_in_transit=msk.CfnCluster.EncryptionInTransitProperty(
                    client_broker="TLS", in_cluster=True
                )
            ),
            enhanced_monitoring="PER_TOPIC_PER_PARTITION",
            logging_info=msk.CfnCluster.LoggingInfoProperty(
                broker_logs=msk.CfnCluster.BrokerLogsProperty(
                    cloud_watch_logs=msk.CfnCluster.CloudWatchLogsProperty(
                        enabled=True, log_group=broker_logs.log_group_name
                    )
                )
            ),
        )
        return cluster.attr_arn

    def _bootstrap_brokers(self, config: DeploymentConfig) -> str:
        call = cr.AwsSdkCall(
            service="Kafka",
            action="getBootstrapBrokers",
            parameters={"ClusterArn": self.cluster_arn},
            physical_resource_id=cr.PhysicalResourceId.of(f"{self.cluster_name}-bootstrap"),
            output_paths=["BootstrapBrokerStringSaslIam"],
        )
        brokers = cr.AwsCustomResource(
            self,
            "BootstrapBrokers",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["kafka:GetBootstrapBrokers"], resources=[self.cluster_arn]
                    )
                ]
            ),
            install_latest_aws_sdk=False,
            log_group=logs.LogGroup(
                self, "BootstrapBrokersLogs", retention=log_retention(config.retention.log_days)
            ),
        )
        acknowledge(
            self,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            "CDK's AwsCustomResource singleton function: its CDK-generated role only writes its "
            "own logs; the one API it calls is granted separately, on this cluster only.",
        )
        return brokers.get_response_field("BootstrapBrokerStringSaslIam")

    def settings_environment(self) -> dict[str, str]:
        """How ``K2Settings`` reaches this cluster: its IAM bootstrap string, SASL/IAM auth."""
        return {"K2_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers, "K2_KAFKA_AUTH": "msk-iam"}

    def cluster_connect_statement(self) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            actions=["kafka-cluster:Connect", "kafka-cluster:DescribeCluster"],
            resources=[self.cluster_arn],
        )

    def topic_arn(self, topic: str) -> str:
        """``arn:…:topic/<cluster name>/<cluster uuid>/<topic>``: MSK's IAM resource for a topic
        (the uuid is left as ``*``: the cluster name is unique in the account and region)."""
        return self._cluster_resource_arn("topic", topic)

    def group_arn(self, group: str) -> str:
        return self._cluster_resource_arn("group", group)

    def _cluster_resource_arn(self, kind: str, name: str) -> str:
        return Stack.of(self).format_arn(
            service="kafka", resource=kind, resource_name=f"{self.cluster_name}/*/{name}"
        )


def topics_fingerprint() -> str:
    """Changes when a topic's name, partitions or config change, so the resource updates."""
    specs: list[dict[str, Any]] = [asdict(topic) for topic in platform_topics()]
    return hashlib.sha256(json.dumps(specs, sort_keys=True).encode()).hexdigest()
