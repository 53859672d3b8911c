"""Glue / EMR Serverless entry point: Kafka → bronze for one exchange and data type."""

from __future__ import annotations

import json

from k2.jobs.bronze import run_bronze
from k2.jobs.job_arguments import job_parser, job_settings, parse_job_arguments
from k2.jobs.spark_session import build_spark_session


def main(argv: list[str] | None = None) -> None:
    parser = job_parser(__doc__ or "", per_exchange=True)
    args = parse_job_arguments(parser, argv)
    settings = job_settings(parser, argv)
    spark = build_spark_session(f"k2-bronze-{args.exchange}-{args.data_type}", settings)
    result = run_bronze(spark, settings, args.exchange, args.data_type, args.trigger)
    print(json.dumps(result.__dict__))


if __name__ == "__main__":
    main()
