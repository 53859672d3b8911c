"""Load the Avro schemas in ``schemas/``: the one place they are defined."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"


@cache
def schema_definition(name: str) -> str:
    """The schema's JSON text, as registered in the Glue Schema Registry."""
    path = SCHEMAS_DIR / f"{name}.avsc"
    if not path.is_file():
        raise FileNotFoundError(f"no Avro schema {name!r} in {SCHEMAS_DIR}")
    return path.read_text()


def parse_schema(definition: str) -> Any:
    return fastavro.parse_schema(json.loads(definition))
