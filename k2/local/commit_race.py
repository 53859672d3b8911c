"""Concurrent Iceberg commits through the Glue catalog: do they all land?

Several writer processes append to one table at the same moment. With Glue's ``VersionId``
check (AWS, and the local endpoint's patch) conflicting commits are rejected and pyiceberg
retries them; without it (stock moto) a conflicting commit "succeeds" and a snapshot is lost.
Used by the tests and by ``bench/glue_commit_race.py``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import IntegerType, NestedField, StringType

from k2.lake.catalog import glue_catalog
from k2.settings import K2Settings

ROWS_PER_COMMIT = 5
SCHEMA = Schema(
    NestedField(1, "writer", StringType(), required=False),
    NestedField(2, "commit", IntegerType(), required=False),
    NestedField(3, "row", IntegerType(), required=False),
)


@dataclass(frozen=True)
class RaceResult:
    rows_expected: int
    rows_landed: int
    distinct_rows_landed: int
    snapshots: int
    retries: int
    writer_errors: tuple[str, ...]


class _RetryCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "concurrent update" in record.getMessage():
            self.retries += 1


def _writer_main(table_name: str, writer: str, commits: int, start_file: Path) -> None:
    counter = _RetryCounter()
    logging.getLogger("pyiceberg").addHandler(counter)
    table = glue_catalog(K2Settings()).load_table(table_name)
    while not start_file.exists():  # every writer starts together, so their commits collide
        time.sleep(0.01)
    for commit in range(commits):
        table.append(
            pa.table(
                {
                    "writer": pa.array([writer] * ROWS_PER_COMMIT, pa.string()),
                    "commit": pa.array([commit] * ROWS_PER_COMMIT, pa.int32()),
                    "row": pa.array(range(ROWS_PER_COMMIT), pa.int32()),
                }
            )
        )
    print(json.dumps({"writer": writer, "retries": counter.retries}))


def run_race(
    settings: K2Settings, table_name: str, workdir: Path, writers: int = 2, commits: int = 25
) -> RaceResult:
    """Create ``table_name`` and race ``writers`` processes of ``commits`` appends each.

    The writer processes inherit this process's environment (AWS credentials and endpoint).
    """
    catalog = glue_catalog(settings)
    catalog.create_table(
        table_name,
        SCHEMA,
        properties={"commit.retry.num-retries": "50", "commit.retry.min-wait-ms": "10"},
    )
    start = workdir / f"start-{table_name}"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", __name__, table_name, f"w{index}", str(commits), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(writers)
    ]
    start.touch()
    retries = 0
    errors = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        if process.returncode == 0:
            retries += json.loads(stdout.strip().splitlines()[-1])["retries"]
        else:  # on stock moto a writer can find its table's history rewritten under it
            errors.append(stderr.strip().splitlines()[-1] if stderr.strip() else "no output")
    table = catalog.load_table(table_name)
    rows = table.scan().to_arrow()
    landed = set(zip(*(rows[c].to_pylist() for c in ("writer", "commit", "row")), strict=True))
    return RaceResult(
        rows_expected=writers * commits * ROWS_PER_COMMIT,
        rows_landed=rows.num_rows,
        distinct_rows_landed=len(landed),
        snapshots=len(table.snapshots()),
        retries=retries,
        writer_errors=tuple(errors),
    )


if __name__ == "__main__":
    _writer_main(sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
