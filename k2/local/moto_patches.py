"""Gaps in stock moto that would make the local cloud lie, closed before the server starts.

Glue ``UpdateTable`` with ``VersionId``: AWS rejects the update with
``ConcurrentModificationException`` when the table has moved past that version; that check is the
optimistic lock Iceberg's Glue catalogs (Java and pyiceberg) rely on. Stock moto ignores
``VersionId``, so two concurrent commits both "succeed" and one silently loses its snapshot.

Glue Schema Registry compatibility: AWS checks a new Avro version (``RegisterSchemaVersion``)
against the earlier ones under the schema's ``Compatibility`` mode and, when it is incompatible,
still creates the version, consuming its version number, but with ``Status: FAILURE``; the schema's
latest version does not move and the failed version never takes part in later checks. ``DISABLED``
refuses any new version with ``InvalidInputException`` (stock moto does that already). Stock moto
accepts every definition as ``AVAILABLE`` whatever the mode, so an incompatible producer change
would pass locally and break consumers only in AWS. It also takes any JSON as Avro: AWS refuses
an invalid Avro definition with ``InvalidInputException`` on CreateSchema and
RegisterSchemaVersion. Moto's ``UpdateSchema`` (changing ``Compatibility``) is left as it is: the
check reads the mode when a version is registered. AWS runs the check asynchronously (``PENDING``
first); here the final status is returned at once.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import fastavro.schema
from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.glue.exceptions import InvalidSchemaDefinitionException
from moto.glue.glue_schema_registry_constants import AVAILABLE_STATUS
from moto.glue.glue_schema_registry_utils import (
    get_schema_version_if_definition_exists,
    validate_register_schema_version_params,
    validate_schema_id,
)
from moto.glue.models import FakeSchemaVersion, GlueBackend
from moto.glue.responses import GlueResponse

from k2.local import athena_service, cloudwatch_service
from k2.local.avro_compatibility import check_compatibility
from k2.local.avro_compatibility import parse as parse_avro

FAILURE_STATUS = "FAILURE"

log = logging.getLogger(__name__)

_table_update_lock = threading.Lock()
_schema_registry_lock = threading.Lock()
_stock_create_schema = GlueBackend.create_schema


class ConcurrentModificationException(JsonRESTError):  # noqa: N818 - AWS's error code
    def __init__(self, message: str):
        super().__init__("ConcurrentModificationException", message)


def _update_table_with_version_check(self: GlueResponse) -> ActionResult:
    database_name = self.parameters["DatabaseName"]
    table_input = self.parameters["TableInput"]
    expected_version = self.parameters.get("VersionId")
    with _table_update_lock:  # compare-and-set must be atomic across moto's request threads
        table = self.glue_backend.get_table(database_name, table_input["Name"])
        current_version = str(table._current_version)
        if expected_version is not None and str(expected_version) != current_version:
            raise ConcurrentModificationException(
                f"Table {database_name}.{table_input['Name']} is at version {current_version}, "
                f"not {expected_version}"
            )
        self.glue_backend.update_table(database_name, table_input["Name"], table_input)
    return EmptyResult()


def _validate_avro_definition(definition: str) -> None:
    try:
        parsed = json.loads(definition)
    except ValueError:
        return  # not JSON: moto's own validation reports it the AWS way
    try:
        fastavro.schema.parse_schema(parsed)
        parse_avro(parsed)
    except (ValueError, KeyError, TypeError, fastavro.schema.SchemaParseException) as err:
        raise InvalidSchemaDefinitionException("AVRO", ValueError(err)) from err


def _create_schema_validating_avro(
    self: GlueBackend,
    registry_id: dict[str, Any],
    schema_name: str,
    data_format: str,
    compatibility: str,
    schema_definition: str,
    description: str | None = None,
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    if data_format == "AVRO":
        _validate_avro_definition(schema_definition)
    return _stock_create_schema(
        self,
        registry_id,
        schema_name,
        data_format,
        compatibility,
        schema_definition,
        description,
        tags,
    )


def _register_schema_version_with_compatibility_check(
    self: GlueBackend, schema_id: dict[str, Any], schema_definition: str
) -> dict[str, Any]:
    registry_name, schema_name, schema_arn = validate_schema_id(schema_id, self.registries)
    with _schema_registry_lock:  # version numbers and the check must not interleave
        schema = self.registries[registry_name].schemas[schema_name]
        validate_register_schema_version_params(  # DISABLED, JSON syntax, version quota
            registry_name,
            schema_name,
            schema_arn,
            self.num_schema_versions,
            schema_definition,
            schema.compatibility,
            schema.data_format,
        )
        # A definition registered before, whatever its status, returns that version.
        existing = get_schema_version_if_definition_exists(
            schema.schema_versions.values(), schema.data_format, schema_definition
        )
        if existing:
            return existing

        reasons: list[str] = []
        if schema.data_format == "AVRO":
            _validate_avro_definition(schema_definition)
            accepted = sorted(
                (
                    version
                    for version in schema.schema_versions.values()
                    if version.schema_version_status == AVAILABLE_STATUS
                ),
                key=lambda version: version.version_number,
            )
            reasons = check_compatibility(
                schema.compatibility,
                schema_definition,
                [version.schema_definition for version in accepted],
            )

        version_number = schema.get_next_schema_version()
        schema.update_next_schema_version()
        version = FakeSchemaVersion(
            self, registry_name, schema_name, schema_definition, version_number
        )
        if reasons:
            version.schema_version_status = FAILURE_STATUS
            log.warning(
                "schema %s/%s version %d is not %s compatible: %s",
                registry_name,
                schema_name,
                version_number,
                schema.compatibility,
                "; ".join(reasons),
            )
        else:
            schema.latest_schema_version = version_number
        schema.schema_versions[version.schema_version_id] = version
        self.num_schema_versions += 1
        return version.as_dict()


def apply() -> None:
    """Install every patch; idempotent."""
    GlueResponse.update_table = _update_table_with_version_check  # type: ignore[method-assign]
    GlueBackend.create_schema = _create_schema_validating_avro  # type: ignore[method-assign]
    GlueBackend.register_schema_version = _register_schema_version_with_compatibility_check  # type: ignore[method-assign]
    athena_service.apply()  # the Athena API runs SQL instead of answering canned results
    cloudwatch_service.apply()  # EMF → metrics, percentiles, SEARCH and math, alarm evaluation
