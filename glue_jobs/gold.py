"""Glue / EMR Serverless entry point: every exchange's silver → gold (MERGE) for one data type."""

from __future__ import annotations

import json

from k2.jobs.gold import run_gold
from k2.jobs.job_arguments import job_parser, job_settings, parse_job_arguments
from k2.jobs.spark_session import build_spark_session


def main(argv: list[str] | None = None) -> None:
    parser = job_parser(__doc__ or "", per_exchange=False)
    args = parse_job_arguments(parser, argv)
    settings = job_settings(parser, argv)
    spark = build_spark_session(f"k2-gold-{args.data_type}", settings)
    result = run_gold(spark, settings, args.data_type, args.trigger)
    print(json.dumps(result.__dict__))


if __name__ == "__main__":
    main()
