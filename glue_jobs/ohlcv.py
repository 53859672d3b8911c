"""Glue / EMR Serverless entry point: OHLCV bars of every timeframe brought up to date with gold
(every 5 minutes in AWS), or a backfill of a time range."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from k2.jobs.job_arguments import job_settings, parse_job_arguments
from k2.jobs.ohlcv import TimeRange, run_ohlcv
from k2.jobs.spark_session import build_spark_session


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backfill-from", help="ISO-8601 time with zone: recompute from here")
    parser.add_argument("--backfill-to", help="ISO-8601 time with zone: recompute up to here")
    args = parse_job_arguments(parser, argv)
    backfill = None
    if args.backfill_from or args.backfill_to:
        if not (args.backfill_from and args.backfill_to):
            parser.error("a backfill needs both --backfill-from and --backfill-to")
        try:
            backfill = TimeRange(
                datetime.fromisoformat(args.backfill_from),
                datetime.fromisoformat(args.backfill_to),
            )
        except ValueError as error:
            parser.error(str(error))
    settings = job_settings(parser, argv)
    spark = build_spark_session("k2-ohlcv", settings)
    result = run_ohlcv(spark, settings, backfill)
    print(json.dumps(result.__dict__))


if __name__ == "__main__":
    main()
