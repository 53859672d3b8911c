"""Gaps in stock moto that would make the local cloud lie, closed before the server starts.

Glue ``UpdateTable`` with ``VersionId``: AWS rejects the update with
``ConcurrentModificationException`` when the table has moved past that version; that check is the
optimistic lock Iceberg's Glue catalogs (Java and pyiceberg) rely on. Stock moto ignores
``VersionId``, so two concurrent commits both "succeed" and one silently loses its snapshot.
"""

from __future__ import annotations

import threading

from moto.core.exceptions import JsonRESTError
from moto.core.responses import ActionResult, EmptyResult
from moto.glue.responses import GlueResponse

_table_update_lock = threading.Lock()


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


def apply() -> None:
    """Install every patch; idempotent."""
    GlueResponse.update_table = _update_table_with_version_check  # type: ignore[method-assign]
