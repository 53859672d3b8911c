"""CloudFormation custom resource (CDK ``custom_resources.Provider``): the lake's Iceberg tables.

Create and Update run what ``k2 lake init`` runs: ``k2.lake.lake_init.init_lake`` creates the Glue
database if missing, then creates every K2 table or evolves it to its definition. A table that
cannot be evolved compatibly raises ``IncompatibleTableChange`` before anything is changed, which
fails the deployment with its message. Delete changes nothing: the tables hold market data, and no
stack operation deletes market data.

Environment: ``K2_REGION``, ``K2_GLUE_DATABASE`` and ``K2_LAKE_BUCKET`` (the warehouse is
``s3://<bucket>/warehouse``). Attributes: ``Database`` and the tables ``Created``, ``Evolved``
and ``Unchanged`` (comma-separated ``database.table`` names); the changes made are logged.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from k2.lake.catalog import glue_catalog
from k2.lake.lake_init import Outcome, init_lake
from k2.settings import K2Settings

logger = Logger(service="k2-lake-init")


@logger.inject_lambda_context(clear_state=True)
def on_event(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = K2Settings()
    request = event["RequestType"]
    physical_id = event.get("PhysicalResourceId") or f"k2-{settings.environment}-lake-tables"
    data = {"Database": settings.glue_database}
    if request in ("Create", "Update"):
        changes = init_lake(glue_catalog(settings), settings.glue_database)
        for change in changes:
            logger.info(
                change.outcome.value, extra={"table": change.table, "changes": change.changes}
            )
        for outcome in Outcome:
            data[outcome.value.capitalize()] = ",".join(
                change.table for change in changes if change.outcome is outcome
            )
    logger.info(request, extra=data)
    return {"PhysicalResourceId": physical_id, "Data": data}
