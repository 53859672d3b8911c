"""Streaming: MSK Serverless with IAM auth (or provisioned), topics from platform_topics()."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from infra_cdk.cloud_assembly import CloudAssembly, statements
from infra_cdk.stacks.streaming import IAM_PORT, topics_fingerprint

pytestmark = pytest.mark.infra


def test_msk_serverless_accepts_only_iam(templates: dict[str, Template]) -> None:
    streaming = templates["Streaming"]
    streaming.resource_count_is("AWS::MSK::ServerlessCluster", 1)
    streaming.resource_count_is("AWS::MSK::Cluster", 0)
    streaming.has_resource_properties(
        "AWS::MSK::ServerlessCluster",
        {
            "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}},
            "ClusterName": "k2-dev-kafka",
        },
    )


def test_brokers_admit_only_the_kafka_clients_group_on_the_iam_port(
    templates: dict[str, Template],
) -> None:
    streaming = templates["Streaming"]
    streaming.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {
            "IpProtocol": "tcp",
            "FromPort": IAM_PORT,
            "ToPort": IAM_PORT,
            "SourceSecurityGroupId": Match.object_like({"Fn::ImportValue": Match.any_value()}),
        },
    )


def test_topics_are_created_by_the_k2_image_with_the_local_clouds_definitions(
    templates: dict[str, Template], assembly: CloudAssembly
) -> None:
    streaming = templates["Streaming"]
    streaming.has_resource_properties(
        "AWS::CloudFormation::CustomResource", {"TopicsFingerprint": topics_fingerprint()}
    )
    streaming.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "PackageType": "Image",
            "ImageConfig": {"Command": ["kafka_topics_handler.on_event"]},
            "Environment": {"Variables": Match.object_like({"K2_KAFKA_AUTH": "msk-iam"})},
            "VpcConfig": Match.object_like({}),
        },
    )
    topic_statements = [
        s
        for s in statements(assembly.template("Streaming"))
        if "kafka-cluster:CreateTopic" in s["Action"]
    ]
    assert len(topic_statements) == 1
    resource = topic_statements[0]["Resource"]
    assert "topic/k2-dev-kafka/*/market.crypto.*" in str(resource)


def test_bootstrap_brokers_are_looked_up_for_this_cluster_only(assembly: CloudAssembly) -> None:
    lookup = [
        s
        for s in statements(assembly.template("Streaming"))
        if s["Action"] == "kafka:GetBootstrapBrokers"
    ]
    assert len(lookup) == 1 and lookup[0]["Resource"] == {"Fn::GetAtt": ["Cluster", "Arn"]}


def test_provisioned_alternative_is_tls_iam_and_logged(
    alternative_templates: dict[str, Template],
) -> None:
    streaming = alternative_templates["Streaming"]
    streaming.resource_count_is("AWS::MSK::ServerlessCluster", 0)
    streaming.has_resource_properties(
        "AWS::MSK::Cluster",
        {
            "NumberOfBrokerNodes": 3,
            "ClientAuthentication": {
                "Sasl": {"Iam": {"Enabled": True}},
                "Unauthenticated": {"Enabled": False},
            },
            "EncryptionInfo": {"EncryptionInTransit": {"ClientBroker": "TLS", "InCluster": True}},
            "LoggingInfo": {"BrokerLogs": {"CloudWatchLogs": Match.object_like({"Enabled": True})}},
        },
    )
