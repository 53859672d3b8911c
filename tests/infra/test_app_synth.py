"""The whole app: it synthesises offline, cdk-nag finds nothing unacknowledged, every
acknowledgement is used and justified, and nothing account- or region-specific is baked in."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

from infra_cdk.cloud_assembly import STACK_CONCERNS, CloudAssembly, as_list, statements
from infra_cdk.repo import REPO_ROOT

pytestmark = pytest.mark.infra

# Actions AWS documents as supporting no resource-level permissions (Resource must be "*").
UNSCOPABLE_ACTIONS = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcAttribute",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ecr:GetAuthorizationToken",
    "cloudwatch:PutMetricData",
    "glue:GetConnection",
    # CloudWatch Logs vended delivery, which Step Functions logging uses
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
}


def test_every_stack_of_the_design_is_synthesised(assembly: CloudAssembly) -> None:
    manifest = json.loads((assembly.directory / "manifest.json").read_text())
    stacks = {
        name
        for name, artifact in manifest["artifacts"].items()
        if artifact["type"] == "aws:cloudformation:stack"
    }
    assert stacks == {assembly.stack_name(concern) for concern in STACK_CONCERNS}
    print(f"cdk synth (default config): {assembly.synth_seconds:.1f} s")


def test_cdk_nag_reports_no_unacknowledged_finding(
    assembly: CloudAssembly, alternative: CloudAssembly
) -> None:
    for synthesised in (assembly, alternative):
        report = synthesised.nag_report
        assert report["conclusion"] == "success", report["violations"]
        assert report["violations"] == []
        assert report["suppressedViolations"], "the report lists acknowledged findings"


def test_every_acknowledgement_is_justified_and_matches_a_real_finding(
    assembly: CloudAssembly,
) -> None:
    """A stale acknowledgement (nothing left to acknowledge) would hide the next real finding."""
    suppressed = assembly.nag_report["suppressedViolations"]
    used = {(finding["acknowledgedAt"], finding["acknowledgedId"]) for finding in suppressed}
    declared = {
        (path, rule)
        for path, rule, _ in assembly.acknowledgements
        if rule.startswith("AwsSolutions::")  # CDK records its own template checks here too
    }
    assert declared == used
    for _, rule, reason in assembly.acknowledgements:
        if rule.startswith("AwsSolutions::"):
            assert len(reason) >= 40, (rule, reason)
    for finding in suppressed:  # the reason travels into the report an auditor reads
        assert finding["reason"]


def test_cross_stack_references_are_strong(assembly: CloudAssembly) -> None:
    context = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
    assert context["@aws-cdk/core:defaultCrossStackReferences"] == "strong"
    text = json.dumps(assembly.all_templates())
    assert "Fn::ImportValue" in text
    assert "Fn::GetStackOutput" not in text


def test_no_account_or_region_is_hard_coded(alternative: CloudAssembly) -> None:
    """Synthesised for eu-west-1, nothing mentions another region or any account id."""
    text = json.dumps(alternative.all_templates())
    assert "eu-west-1" in text
    assert re.findall(r"\b(?:us|eu|ap|sa|ca|me|af)-[a-z]+-\d\b", text).count("eu-west-1") == len(
        re.findall(r"\b(?:us|eu|ap|sa|ca|me|af)-[a-z]+-\d\b", text)
    )
    assert not re.search(r"(?<![0-9a-f])\d{12}(?![0-9a-f])", text)


def _each_bucket(assembly: CloudAssembly) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (concern, logical_id, resource["Properties"])
        for concern in STACK_CONCERNS
        for logical_id, resource in assembly.resources(concern, "AWS::S3::Bucket").items()
    ]


def test_every_bucket_is_private_encrypted_and_tls_only(assembly: CloudAssembly) -> None:
    buckets = _each_bucket(assembly)
    assert len(buckets) == 5  # lake, checkpoints, Athena results, artifacts, access logs
    policies = [
        resource["Properties"]
        for concern in STACK_CONCERNS
        for resource in assembly.resources(concern, "AWS::S3::BucketPolicy").values()
    ]
    for concern, logical_id, properties in buckets:
        block = properties["PublicAccessBlockConfiguration"]
        assert all(block[key] is True for key in block) and len(block) == 4, logical_id
        encryption = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert encryption[0]["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in (
            "AES256",
            "aws:kms",
        )
        denies_plain_http = [
            policy
            for policy in policies
            if policy["Bucket"] == {"Ref": logical_id}
            and any(
                statement["Effect"] == "Deny"
                and statement.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
                == "false"
                for statement in policy["PolicyDocument"]["Statement"]
            )
        ]
        assert denies_plain_http, f"{concern}/{logical_id} accepts plain HTTP"


def test_iam_statements_are_scoped_to_resources(
    assembly: CloudAssembly, alternative: CloudAssembly
) -> None:
    """No wildcard actions; Resource '*' only for actions that cannot name a resource."""
    for synthesised in (assembly, alternative):
        for concern, template in synthesised.all_templates().items():
            for statement in statements(template):
                actions = as_list(statement["Action"])
                assert not any(action == "*" or action.endswith(":*") for action in actions), (
                    concern,
                    statement,
                )
                if "*" in as_list(statement.get("Resource", [])):
                    unscopable = set(actions) <= UNSCOPABLE_ACTIONS
                    assert unscopable, (concern, sorted(set(actions) - UNSCOPABLE_ACTIONS))


def test_resource_counts_per_stack(assembly: CloudAssembly) -> None:
    counts = {
        concern: len(template["Resources"])
        for concern, template in assembly.all_templates().items()
    }
    print("resources per stack:", counts)
    kinds = Counter(
        resource["Type"]
        for template in assembly.all_templates().values()
        for resource in template["Resources"].values()
    )
    assert kinds["AWS::Glue::Job"] == 5
    assert kinds["AWS::ECS::Service"] == 2
    assert kinds["AWS::MSK::ServerlessCluster"] == 1
    assert kinds["AWS::ApiGateway::RestApi"] == 1
    assert kinds["AWS::Athena::WorkGroup"] == 1
    assert kinds["AWS::CloudWatch::Dashboard"] == 1


def test_a_known_account_synthesises_as_cleanly(account_assembly: CloudAssembly) -> None:
    """With credentials, CDK resolves account and region to literals (the bootstrap bucket, AZs);
    every acknowledgement must still match, and no AZ name may be baked into a resource."""
    report = account_assembly.nag_report
    assert report["conclusion"] == "success", report["violations"]
    text = json.dumps(account_assembly.all_templates())
    assert "cdk-hnb659fds-assets-111111111111-eu-west-1" in text
    connection = account_assembly.resources("Processing", "AWS::Glue::Connection")
    (properties,) = [c["Properties"]["ConnectionInput"] for c in connection.values()]
    zone = properties["PhysicalConnectionRequirements"]["AvailabilityZone"]
    assert isinstance(zone, dict), zone  # the subnet's attribute, not a literal zone name
