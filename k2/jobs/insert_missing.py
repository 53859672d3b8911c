"""Insert-if-absent MERGE: how gold, and a replay into silver, stay free of duplicates."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame


def insert_missing(rows: DataFrame, target: str, keys: Sequence[str], view: str) -> None:
    """MERGE ``rows`` into the Iceberg table ``target``, inserting only keys it lacks.

    ``target``, ``keys`` and ``view`` come from table definitions, never from user input. The
    rows must be unique on ``keys`` (two absent rows with one key would both be inserted).
    """
    rows.createOrReplaceTempView(view)
    condition = " AND ".join(f"t.`{key}` = s.`{key}`" for key in keys)
    rows.sparkSession.sql(
        f"MERGE INTO {target} t USING {view} s ON {condition} WHEN NOT MATCHED THEN INSERT *"
    )
