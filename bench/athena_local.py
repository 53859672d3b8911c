"""The local Athena's latency for the named queries, against DuckDB run directly.

    .venv/bin/python -m bench.athena_local [--trades 1000000] [--runs 5] [--rebuild] [--keep-cloud]

The lake is the API bench's (``bench.api_bench_lake``: its own cloud, AWS endpoint only on port
34566, Glue database ``k2_bench_api``; gold trades generated in Spark, 4 markets over 7 days, two
commits), plus every other K2 table created empty by ``init_lake`` (the DLQ query reads
silver_dlq and bronze). ``--keep-cloud`` leaves it running for the next run.

Measured per named query, ``--runs`` times after one untimed warm-up, median reported:
- **Athena (local)**: boto3 ``StartQueryExecution`` in the research work group, polled every
  20 ms until SUCCEEDED, then every result page read. That is the whole path a user waits for:
  the API, Trino → DuckDB translation, pyiceberg planning and reading the snapshot's files from
  the endpoint's S3, DuckDB, and the CSV written back to S3.
- **DuckDB directly (baseline, same process)**: the same tables read with pyiceberg to Arrow in
  this process and the query, transpiled by sqlglot, run by DuckDB over them. Before timing, the
  rows of both are compared, with ``current_timestamp`` pinned to one instant on both sides.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any

import sqlglot
from sqlglot import exp

from bench.api_bench_lake import (
    bench_cloud,
    bench_settings,
    build_lake,
    existing_lake,
    load_average,
    start_aws_endpoint,
    step,
)
from k2.domain.markets import Exchange
from k2.lake.catalog import glue_catalog
from k2.lake.lake_init import init_lake
from k2.local import provisioning
from k2.local.cloud import LocalCloud
from k2.query.athena_client import run_query
from k2.query.athena_execution import render_value
from k2.query.lake_reader import duckdb_over, read_table
from k2.query.named_queries import NamedQuery, named_queries
from k2.settings import K2Settings


def athena_rows(
    athena: Any, settings: K2Settings, query: NamedQuery
) -> list[tuple[str | None, ...]]:
    outcome = run_query(
        athena,
        query.sql,
        database=settings.glue_database,
        workgroup=settings.athena_workgroup,
        poll_s=0.02,
    )
    return outcome.rows


def duckdb_rows(settings: K2Settings, query: NamedQuery) -> list[tuple[Any, ...]]:
    """Read each table the query names with pyiceberg, run the transpiled SQL on DuckDB."""
    parsed = sqlglot.parse_one(query.sql, read="trino")
    tables: dict[str, Any] = {}
    catalog = glue_catalog(settings)
    for table in parsed.find_all(exp.Table):
        if table.db:
            name = f"{table.db}__{table.name}"
            tables.setdefault(name, read_table(catalog, f"{table.db}.{table.name}"))
            table.replace(exp.to_table(name))
    connection = duckdb_over(tables)
    try:
        return connection.execute(parsed.sql(dialect="duckdb")).fetchall()
    finally:
        connection.close()


def same_rows(ours: list[tuple[str | None, ...]], direct: list[tuple[Any, ...]]) -> bool:
    """Row by row (both queries order their rows): DuckDB's values rendered as Athena renders
    them, numbers compared to 1e-9 relative (plain DuckDB divides decimals in DOUBLE), integers
    to within 1 (see below)."""
    if len(ours) != len(direct):
        return False
    for our_row, direct_row in zip(ours, direct, strict=True):
        for text, value in zip(our_row, direct_row, strict=True):
            if value is None or text is None:
                if value is not text:
                    return False
            elif isinstance(value, float | Decimal) and not isinstance(value, bool):
                if not math.isclose(float(text), float(value), rel_tol=1e-9):
                    return False
            elif isinstance(value, int) and not isinstance(value, bool):
                if abs(int(text) - value) > 1:  # plain DuckDB's date_diff counts boundaries
                    return False  # crossed, Trino's (and the local Athena's) whole units
            elif render_value(value) != text:
                return False
    return True


def at_fixed_now(query: NamedQuery) -> NamedQuery:
    """The query with ``current_timestamp`` replaced by one literal instant."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
    return replace(query, sql=query.sql.replace("current_timestamp", f"TIMESTAMP '{now}'"))


def timed(action: Callable[[], object], runs: int) -> list[float]:
    action()  # warm-up, untimed
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def run(cloud: LocalCloud, args: argparse.Namespace) -> None:
    with step("starting the bench cloud's AWS endpoint"):
        start_aws_endpoint(cloud)
    settings = bench_settings(cloud)
    if args.rebuild or existing_lake(settings, args.trades) is None:
        build_lake(settings, args.trades)
    with step("every other K2 table, empty (init_lake)"):
        init_lake(glue_catalog(settings), settings.glue_database)
    athena = cloud.layout.aws_client("athena")
    provisioning.create_athena_work_group(athena, settings)
    queries = named_queries(settings.glue_database, tuple(Exchange))
    results: list[tuple[str, int, float, float]] = []
    for query in queries:
        pinned = at_fixed_now(query)  # both sides must see the same "now" to agree
        ours = athena_rows(athena, settings, pinned)
        direct = duckdb_rows(settings, pinned)
        if not same_rows(ours, direct):
            raise SystemExit(f"{query.name}: the local Athena and DuckDB disagree")
        with step(f"{query.name}: {len(ours)} rows, {args.runs} runs each way"):
            athena_times = timed(partial(athena_rows, athena, settings, query), args.runs)
            duck_times = timed(partial(duckdb_rows, settings, query), args.runs)
        results.append(
            (query.name, len(ours), statistics.median(athena_times), statistics.median(duck_times))
        )
    print(
        f"\nlocal Athena, named queries, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {args.trades:,} "
        f"gold trades; median of {args.runs}; load average {load_average()} "
        f"({os.cpu_count()} cores)"
    )
    print(f"{'query':<24} {'rows':>6} {'Athena (local)':>15} {'DuckDB direct':>14} {'ratio':>6}")
    for name, rows, ours_s, duck_s in results:
        print(
            f"{name:<24} {rows:>6} {ours_s * 1000:>12.0f} ms {duck_s * 1000:>11.0f} ms "
            f"{ours_s / duck_s:>5.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trades", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="build the lake even if it exists")
    parser.add_argument("--keep-cloud", action="store_true", help="leave the AWS endpoint running")
    args = parser.parse_args()
    cloud = bench_cloud()
    cloud.layout.export_client_environment()
    try:
        run(cloud, args)
    finally:
        if not args.keep_cloud:
            cloud.down()


if __name__ == "__main__":
    main()
