"""Glue / EMR Serverless entry point: Kafka → bronze for one exchange and data type."""

from __future__ import annotations

import argparse
import json

from k2.domain.markets import DataType, Exchange
from k2.jobs.bronze import Trigger, run_bronze
from k2.jobs.spark_session import build_spark_session
from k2.settings import K2Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--exchange", type=Exchange, choices=list(Exchange), required=True)
    parser.add_argument(
        "--data-type", type=DataType, choices=list(DataType), default=DataType.TRADES
    )
    parser.add_argument(
        "--trigger", type=Trigger, choices=list(Trigger), default=Trigger.AVAILABLE_NOW
    )
    args, _glue_arguments = parser.parse_known_args(argv)  # Glue adds --JOB_NAME and friends
    settings = K2Settings()
    spark = build_spark_session(f"k2-bronze-{args.exchange}-{args.data_type}", settings)
    result = run_bronze(spark, settings, args.exchange, args.data_type, args.trigger)
    print(json.dumps(result.__dict__))


if __name__ == "__main__":
    main()
