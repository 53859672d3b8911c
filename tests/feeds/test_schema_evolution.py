"""Schema evolution on the local Glue Schema Registry follows AWS's compatibility rules.

A compatible change becomes the next version and records written before it still decode; an
incompatible one is registered with Status FAILURE (``GlueSchemaRegistry.register`` raises
``IncompatibleSchemaError``) and the schema's latest version stays put; NONE accepts anything;
DISABLED accepts no new version. Each test uses its own schema name: the registry is shared with
the rest of the session.
"""

from __future__ import annotations

import io
import json
from typing import Any
from uuid import uuid4

import fastavro
import pytest

from k2.aws import aws_client
from k2.feeds.glue_schema_registry import GlueSchemaRegistry, IncompatibleSchemaError, unframe
from k2.settings import K2Settings

pytestmark = pytest.mark.integration


def probe_schema(*fields: dict[str, Any]) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": "EvolutionProbe",
            "namespace": "io.k2.test",
            "fields": [
                {"name": "symbol", "type": "string"},
                *fields,
            ],
        }
    )


V1 = probe_schema({"name": "price", "type": "string"})
V2_OPTIONAL_FIELD = probe_schema(
    {"name": "price", "type": "string"},
    {"name": "venue", "type": ["null", "string"], "default": None},
)
V2_REQUIRED_FIELD = probe_schema(
    {"name": "price", "type": "string"},
    {"name": "venue", "type": "string"},
)
V2_RETYPED_FIELD = probe_schema({"name": "price", "type": "long"})


@pytest.fixture
def glue(k2_settings: K2Settings) -> Any:
    return aws_client("glue", k2_settings)


@pytest.fixture
def schema_name() -> str:
    return f"test-evolution-{uuid4().hex[:12]}"


@pytest.fixture
def schema_id(k2_settings: K2Settings, schema_name: str) -> dict[str, str]:
    return {"RegistryName": k2_settings.schema_registry_name, "SchemaName": schema_name}


def create_schema(glue: Any, schema_id: dict[str, str], compatibility: str) -> None:
    glue.create_schema(
        RegistryId={"RegistryName": schema_id["RegistryName"]},
        SchemaName=schema_id["SchemaName"],
        DataFormat="AVRO",
        Compatibility=compatibility,
        SchemaDefinition=V1,
    )


def latest_version(glue: Any, schema_id: dict[str, str]) -> int:
    latest = glue.get_schema_version(
        SchemaId=schema_id, SchemaVersionNumber={"LatestVersion": True}
    )
    assert glue.get_schema(SchemaId=schema_id)["LatestSchemaVersion"] == latest["VersionNumber"]
    return int(latest["VersionNumber"])


def test_backward_compatible_change_is_version_2_and_old_records_still_decode(
    glue: Any, k2_settings: K2Settings, schema_name: str, schema_id: dict[str, str]
) -> None:
    producer = GlueSchemaRegistry(glue, k2_settings.schema_registry_name, compatibility="BACKWARD")
    v1_id = producer.register(schema_name, V1)
    v2_id = producer.register(schema_name, V2_OPTIONAL_FIELD)

    v2 = glue.get_schema_version(SchemaVersionId=str(v2_id))
    assert (v2["VersionNumber"], v2["Status"]) == (2, "AVAILABLE")
    assert latest_version(glue, schema_id) == 2

    old_record = {"symbol": "BTCUSDT", "price": "97000.10"}
    framed = producer.serialize(v1_id, old_record)

    # a consumer that has never seen either version decodes by the id in the frame ...
    consumer = GlueSchemaRegistry(glue, k2_settings.schema_registry_name)
    assert consumer.deserialize(framed) == (v1_id, old_record)
    # ... and the new schema, as reader, resolves the old record: the added field's default
    _, body = unframe(framed)
    resolved = fastavro.schemaless_reader(
        io.BytesIO(body), consumer.schema(v1_id), consumer.schema(v2_id)
    )
    assert resolved == {**old_record, "venue": None}
    # records of the new version round-trip too
    new_record = {"symbol": "ETHUSDT", "price": "3400.5", "venue": "binance"}
    assert consumer.deserialize(producer.serialize(v2_id, new_record)) == (v2_id, new_record)


@pytest.mark.parametrize(
    "incompatible",
    [V2_REQUIRED_FIELD, V2_RETYPED_FIELD],
    ids=["required-field-without-default", "string-to-long"],
)
def test_incompatible_change_is_a_failed_version_and_latest_stays_1(
    glue: Any, schema_id: dict[str, str], incompatible: str
) -> None:
    create_schema(glue, schema_id, "BACKWARD")

    failed = glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=incompatible)

    assert failed["Status"] == "FAILURE"  # AWS: a version, not an error, but unusable
    assert glue.get_schema_version(SchemaVersionId=failed["SchemaVersionId"])["Status"] == "FAILURE"
    assert latest_version(glue, schema_id) == 1
    # the same definition again is the same failed version, not a new attempt
    again = glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=incompatible)
    assert (again["SchemaVersionId"], again["Status"]) == (failed["SchemaVersionId"], "FAILURE")
    # the failed version takes no part in later checks: a compatible change is judged against v1
    accepted = glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=V2_OPTIONAL_FIELD)
    assert accepted["Status"] == "AVAILABLE"
    assert accepted["VersionNumber"] > failed["VersionNumber"]
    assert latest_version(glue, schema_id) == accepted["VersionNumber"]


@pytest.mark.parametrize(
    "incompatible",
    [V2_REQUIRED_FIELD, V2_RETYPED_FIELD],
    ids=["required-field-without-default", "string-to-long"],
)
def test_registry_client_raises_on_an_incompatible_change_and_still_accepts_a_compatible_one(
    glue: Any,
    k2_settings: K2Settings,
    schema_name: str,
    schema_id: dict[str, str],
    incompatible: str,
) -> None:
    producer = GlueSchemaRegistry(glue, k2_settings.schema_registry_name, compatibility="BACKWARD")
    producer.register(schema_name, V1)

    with pytest.raises(IncompatibleSchemaError, match=f"{schema_name} version 2 .*FAILURE"):
        producer.register(schema_name, incompatible)
    # refused, not cached: asking again asks the registry again, and is refused again
    with pytest.raises(IncompatibleSchemaError, match="FAILURE"):
        producer.register(schema_name, incompatible)
    assert latest_version(glue, schema_id) == 1

    v3_id = producer.register(schema_name, V2_OPTIONAL_FIELD)
    v3 = glue.get_schema_version(SchemaVersionId=str(v3_id))
    assert (v3["VersionNumber"], v3["Status"]) == (3, "AVAILABLE")
    assert latest_version(glue, schema_id) == 3


def test_mode_none_accepts_an_incompatible_change(glue: Any, schema_id: dict[str, str]) -> None:
    create_schema(glue, schema_id, "NONE")

    response = glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=V2_RETYPED_FIELD)

    assert (response["VersionNumber"], response["Status"]) == (2, "AVAILABLE")
    assert latest_version(glue, schema_id) == 2


def test_mode_disabled_refuses_any_new_version(glue: Any, schema_id: dict[str, str]) -> None:
    create_schema(glue, schema_id, "DISABLED")

    with pytest.raises(glue.exceptions.InvalidInputException, match="DISABLED"):
        glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=V2_OPTIONAL_FIELD)
    assert latest_version(glue, schema_id) == 1


def test_update_schema_changes_the_mode_later_versions_are_checked_with(
    glue: Any, schema_id: dict[str, str]
) -> None:
    create_schema(glue, schema_id, "BACKWARD")
    refused = glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=V2_RETYPED_FIELD)
    assert refused["Status"] == "FAILURE"

    glue.update_schema(
        SchemaId=schema_id, SchemaVersionNumber={"LatestVersion": True}, Compatibility="NONE"
    )
    accepted = glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=V2_REQUIRED_FIELD)
    assert accepted["Status"] == "AVAILABLE"

    glue.update_schema(
        SchemaId=schema_id, SchemaVersionNumber={"LatestVersion": True}, Compatibility="DISABLED"
    )
    with pytest.raises(glue.exceptions.InvalidInputException):
        glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=V2_OPTIONAL_FIELD)
    assert latest_version(glue, schema_id) == accepted["VersionNumber"]


def test_invalid_avro_is_refused(glue: Any, schema_id: dict[str, str]) -> None:
    create_schema(glue, schema_id, "NONE")
    not_avro = json.dumps({"type": "record", "name": "P", "fields": [{"name": "x", "type": "No"}]})

    with pytest.raises(glue.exceptions.InvalidInputException, match="AVRO data format is invalid"):
        glue.register_schema_version(SchemaId=schema_id, SchemaDefinition=not_avro)
    assert latest_version(glue, schema_id) == 1
