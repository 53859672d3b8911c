"""The arguments every Spark job entry point takes, in Glue, on EMR Serverless and locally."""

from __future__ import annotations

import argparse

from k2.domain.markets import DataType, Exchange
from k2.jobs.bronze import Trigger


def job_parser(description: str, *, per_exchange: bool) -> argparse.ArgumentParser:
    """``--exchange`` (bronze and silver run per exchange), ``--data-type`` and ``--trigger``."""
    parser = argparse.ArgumentParser(description=description)
    if per_exchange:
        parser.add_argument("--exchange", type=Exchange, choices=list(Exchange), required=True)
    parser.add_argument(
        "--data-type", type=DataType, choices=list(DataType), default=DataType.TRADES
    )
    parser.add_argument(
        "--trigger",
        type=Trigger,
        choices=list(Trigger),
        default=Trigger.AVAILABLE_NOW,
        help="available-now: a scheduled catch-up run; continuous: run until stopped",
    )
    return parser


def parse_job_arguments(
    parser: argparse.ArgumentParser, argv: list[str] | None
) -> argparse.Namespace:
    """Known arguments only: Glue adds ``--JOB_NAME`` and friends."""
    args, _glue_arguments = parser.parse_known_args(argv)
    return args
