"""Lakehouse: buckets, the Glue database, the registry with our schemas, the tables resource."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from infra_cdk.cloud_assembly import CloudAssembly, statements
from infra_cdk.stacks.lakehouse import tables_fingerprint
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.feeds.avro_schemas import schema_definition
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.market_data_publisher import RAW_SCHEMAS

pytestmark = pytest.mark.infra


def test_the_lake_is_versioned_kept_and_its_old_versions_expire(
    assembly: CloudAssembly,
) -> None:
    buckets = assembly.resources("Lakehouse", "AWS::S3::Bucket")
    lake = [b for b in buckets.values() if "lake" in json.dumps(b["Properties"]["BucketName"])]
    assert len(lake) == 1
    (bucket,) = lake
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["Properties"]["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in rule for rule in rules)
    assert not any("ExpirationInDays" in rule for rule in rules)  # market data is kept forever
    assert bucket["Properties"]["LoggingConfiguration"]["LogFilePrefix"] == "lake/"


def test_athena_results_expire(templates: dict[str, Template]) -> None:
    templates["Lakehouse"].has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketName": Match.object_like(
                {"Fn::Join": Match.array_with([Match.array_with(["k2-dev-athena-"])])}
            ),
            "LifecycleConfiguration": {
                "Rules": Match.array_with([Match.object_like({"ExpirationInDays": 30})])
            },
        },
    )


def test_each_raw_topic_has_its_writer_schema_registered(templates: dict[str, Template]) -> None:
    lakehouse = templates["Lakehouse"]
    lakehouse.resource_count_is("AWS::Glue::Registry", 1)
    lakehouse.resource_count_is("AWS::Glue::Schema", 4)
    for (exchange, data_type), name in RAW_SCHEMAS.items():
        lakehouse.has_resource_properties(
            "AWS::Glue::Schema",
            {
                "Name": raw_topic(DataType(data_type), Exchange(exchange)),
                "DataFormat": "AVRO",
                "Compatibility": GlueSchemaRegistry.compatibility,
                "SchemaDefinition": schema_definition(name),
            },
        )


def test_tables_are_created_by_lake_init_with_least_privilege(
    templates: dict[str, Template], assembly: CloudAssembly
) -> None:
    lakehouse = templates["Lakehouse"]
    lakehouse.has_resource_properties(
        "AWS::CloudFormation::CustomResource", {"TablesFingerprint": tables_fingerprint()}
    )
    lakehouse.has_resource_properties(
        "AWS::Lambda::Function", {"ImageConfig": {"Command": ["lake_init_handler.on_event"]}}
    )
    glue = [
        s for s in statements(assembly.template("Lakehouse")) if "glue:CreateTable" in s["Action"]
    ]
    assert len(glue) == 1
    assert "glue:DeleteTable" not in glue[0]["Action"]  # a stack operation never drops tables
    assert "k2_dev/*" in json.dumps(glue[0]["Resource"])
    for kind in ("AWS::Glue::Database", "AWS::Glue::Registry", "AWS::Glue::Schema"):
        for resource in assembly.resources("Lakehouse", kind).values():
            assert resource["DeletionPolicy"] == "Retain", kind
