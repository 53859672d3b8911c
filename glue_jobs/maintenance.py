"""Glue / EMR Serverless entry point: compaction, snapshot expiry and orphan-file removal of K2
tables (every table unless --table names some), safe to run while the streams run."""

from __future__ import annotations

import argparse
import json

from k2.jobs.job_arguments import job_settings, parse_job_arguments
from k2.jobs.maintenance import run_maintenance, tables_named
from k2.jobs.spark_session import build_spark_session


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--table",
        action="append",
        default=[],
        help="a K2 table name; repeat it, or separate names by commas (a Glue job argument "
        "cannot repeat); default: every table",
    )
    args = parse_job_arguments(parser, argv)
    names = [name.strip() for value in args.table for name in value.split(",") if name.strip()]
    try:
        tables = tables_named(names) if names else None
    except ValueError as error:
        parser.error(str(error))
    settings = job_settings(parser, argv)
    spark = build_spark_session("k2-maintenance", settings)
    results = run_maintenance(spark, settings, tables)
    print(json.dumps([result.as_json() for result in results]))
    if failed := [result.table for result in results if result.error]:
        raise SystemExit(f"maintenance failed for {', '.join(failed)}")


if __name__ == "__main__":
    main()
