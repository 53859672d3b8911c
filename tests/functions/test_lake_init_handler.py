"""The lake tables custom resource against the local cloud's Glue catalog and S3.

Each test points the handler at a database of its own (``K2_GLUE_DATABASE``), so it starts from
an empty catalog and disturbs no other test.
"""

from __future__ import annotations

from uuid import uuid4

import pytest
from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.schema import Schema
from pyiceberg.types import NestedField, StringType

from k2.lake.catalog import glue_catalog
from k2.lake.lake_init import IncompatibleTableChange
from k2.lake.table_definition import TableDefinition
from k2.lake.tables import all_tables, gold_trades_table
from k2.local.cloud import LocalCloud
from k2.settings import K2Settings
from tests.functions.custom_resource_testkit import invoke

pytestmark = pytest.mark.integration

FUNCTION = "lake_init"


@pytest.fixture
def database(
    local_cloud: LocalCloud, k2_settings: K2Settings, monkeypatch: pytest.MonkeyPatch
) -> str:
    """What the CDK gives the function, with the local cloud's endpoint and a fresh database."""
    name = f"k2_cr_{uuid4().hex[:8]}"
    monkeypatch.setenv("K2_AWS_ENDPOINT_URL", k2_settings.aws_endpoint_url or "")
    monkeypatch.setenv("K2_REGION", k2_settings.region)
    monkeypatch.setenv("K2_LAKE_BUCKET", k2_settings.lake_bucket)
    monkeypatch.setenv("K2_GLUE_DATABASE", name)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "k2-lake-init")
    return name


@pytest.fixture
def catalog(k2_settings: K2Settings) -> GlueCatalog:
    return glue_catalog(k2_settings)


def _identifiers(database: str) -> list[str]:
    return [table.identifier(database) for table in all_tables()]


def _as_built(catalog: GlueCatalog, database: str, definition: TableDefinition) -> object:
    """Columns, partitioning and sort order of the table in the catalog."""
    table = catalog.load_table(definition.identifier(database))
    schema = table.schema()
    return (
        [(f.name, f.field_type, f.required, f.doc) for f in schema.fields],
        schema.identifier_field_names(),
        [
            (schema.find_column_name(f.source_id), str(f.transform), f.name)
            for f in table.spec().fields
        ],
        [schema.find_column_name(f.source_id) for f in table.sort_order().fields],
        table.format_version,
    )


def _as_defined(definition: TableDefinition) -> object:
    wanted = definition.iceberg_schema()
    return (
        [(f.name, f.field_type, f.required, f.doc) for f in wanted.fields],
        set(definition.identifier_fields),
        [(p.source, str(p.transform), p.name) for p in definition.partitions],
        [key.source for key in definition.sort_order],
        definition.format_version,
    )


def _metadata_locations(catalog: GlueCatalog, database: str) -> dict[str, str]:
    return {name: catalog.load_table(name).metadata_location for name in _identifiers(database)}


def test_create_makes_every_table_as_k2_lake_defines_it(
    database: str, catalog: GlueCatalog
) -> None:
    response = invoke(FUNCTION, "Create")

    assert response["PhysicalResourceId"] == "k2-local-lake-tables"
    assert response["Data"] == {
        "Database": database,
        "Created": ",".join(_identifiers(database)),
        "Evolved": "",
        "Unchanged": "",
    }
    assert sorted(catalog.list_tables(database)) == sorted(
        (database, table.name) for table in all_tables()
    )
    for definition in all_tables():
        assert _as_built(catalog, database, definition) == _as_defined(definition), definition.name


def test_update_and_a_second_create_change_nothing(database: str, catalog: GlueCatalog) -> None:
    physical_id = invoke(FUNCTION, "Create")["PhysicalResourceId"]
    before = _metadata_locations(catalog, database)

    updated = invoke(FUNCTION, "Update", physical_id)
    again = invoke(FUNCTION, "Create")

    unchanged = {
        "Database": database,
        "Created": "",
        "Evolved": "",
        "Unchanged": ",".join(_identifiers(database)),
    }
    assert updated == {"PhysicalResourceId": physical_id, "Data": unchanged}
    assert again["Data"] == unchanged
    assert _metadata_locations(catalog, database) == before  # no commit at all


def test_delete_keeps_every_table(database: str, catalog: GlueCatalog) -> None:
    physical_id = invoke(FUNCTION, "Create")["PhysicalResourceId"]
    before = _metadata_locations(catalog, database)

    response = invoke(FUNCTION, "Delete", physical_id)

    assert response == {"PhysicalResourceId": physical_id, "Data": {"Database": database}}
    assert _metadata_locations(catalog, database) == before


def test_an_incompatible_table_fails_the_deployment_with_its_message_and_changes_nothing(
    database: str, catalog: GlueCatalog
) -> None:
    """A table of a K2 name with a column K2 does not define: init refuses before any change."""
    gold = gold_trades_table()
    catalog.create_namespace(database)
    legacy = catalog.create_table(
        gold.identifier(database),
        schema=Schema(NestedField(1, "legacy_id", StringType(), required=False)),
    )

    with pytest.raises(IncompatibleTableChange) as refused:
        invoke(FUNCTION, "Create")

    message = str(refused.value)  # what the Provider framework reports to CloudFormation
    assert message.startswith("incompatible table change, nothing applied: ")
    assert f"{gold.identifier(database)}.legacy_id: column is in the table but not in" in message
    assert catalog.list_tables(database) == [(database, gold.name)]  # nothing else was created
    assert catalog.load_table(gold.identifier(database)).metadata_location == (
        legacy.metadata_location
    )
