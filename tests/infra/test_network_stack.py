"""Network: private subnets with NAT egress, the S3 gateway endpoint, interface endpoints."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from infra_cdk.cloud_assembly import CloudAssembly
from infra_cdk.stacks.network import INTERFACE_ENDPOINTS

pytestmark = pytest.mark.infra


def test_vpc_spans_two_azs_with_private_subnets_and_one_nat(templates: dict[str, Template]) -> None:
    network = templates["Network"]
    network.resource_count_is("AWS::EC2::VPC", 1)
    network.resource_count_is("AWS::EC2::NatGateway", 1)
    subnets = network.find_resources("AWS::EC2::Subnet")
    public = [s for s in subnets.values() if s["Properties"].get("MapPublicIpOnLaunch")]
    assert len(subnets) == 4 and len(public) == 2


def test_endpoints_keep_aws_traffic_off_the_nat(templates: dict[str, Template]) -> None:
    network = templates["Network"]
    network.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"VpcEndpointType": "Gateway", "ServiceName": Match.object_like({})},
    )
    interface = network.find_resources(
        "AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}}
    )
    assert len(interface) == len(INTERFACE_ENDPOINTS) == 7
    for endpoint in interface.values():
        assert endpoint["Properties"]["PrivateDnsEnabled"] is True


def test_rejected_traffic_is_logged_and_the_default_group_is_closed(
    templates: dict[str, Template],
) -> None:
    network = templates["Network"]
    network.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "REJECT"})
    network.resource_count_is("Custom::VpcRestrictDefaultSG", 1)


def test_the_alternative_config_changes_nothing_here_but_names(
    alternative: CloudAssembly,
) -> None:
    assert alternative.stack_name("Network") == "K2-prod-Network"
    assert len(alternative.resources("Network", "AWS::EC2::NatGateway")) == 1
