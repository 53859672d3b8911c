"""The arguments every Spark job entry point takes, in Glue, on EMR Serverless and locally.

Glue cannot set environment variables for a job: it passes its parameters (the job's
``DefaultArguments`` and each run's ``Arguments``) as ``--NAME value`` pairs on the script's
command line, next to its own (``--JOB_NAME``, ``--JOB_RUN_ID``, ...). So every ``K2Settings``
field can also be given as ``--K2_<FIELD> value``, which wins over the ``K2_<FIELD>`` environment
variable; EMR Serverless passes the same pairs as ``entryPointArguments``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence

from pydantic import ValidationError

from k2.domain.markets import DataType, Exchange
from k2.jobs.bronze import Trigger
from k2.settings import K2Settings

SETTINGS_PREFIX = "--K2_"


class JobArgumentError(ValueError):
    """A ``--K2_`` argument names no setting, lacks its value, or holds a value that is invalid."""


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
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Known arguments only: Glue adds ``--JOB_NAME`` and friends, and ``--K2_*`` are settings."""
    args, _other_arguments = parser.parse_known_args(argv)
    return args


def argument_name(field: str) -> str:
    """``lake_bucket`` → ``--K2_LAKE_BUCKET``."""
    return f"{SETTINGS_PREFIX}{field.upper()}"


def settings_arguments(argv: Sequence[str]) -> dict[str, str]:
    """The ``--K2_NAME value`` and ``--K2_NAME=value`` pairs in ``argv``, as field → raw value.

    Every other argument is left alone (it belongs to the job's parser or to Glue); a later
    pair for the same name wins, as a Glue run argument overrides a default argument.
    """
    fields = K2Settings.model_fields
    found: dict[str, str] = {}
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if not token.startswith(SETTINGS_PREFIX):
            continue
        name, has_value, value = token.partition("=")
        field = name.removeprefix(SETTINGS_PREFIX).lower()
        if field not in fields:
            known = ", ".join(argument_name(f) for f in fields)
            raise JobArgumentError(f"{name} names no K2 setting; the settings are: {known}")
        if not has_value:
            if index >= len(argv):
                raise JobArgumentError(f"{name} needs a value")
            value = argv[index]
            index += 1
        found[field] = value
    return found


def settings_from_job_arguments(argv: Sequence[str] | None = None) -> K2Settings:
    """``K2Settings`` from the environment, overridden by the ``--K2_*`` job arguments.

    A value that does not validate raises :class:`JobArgumentError` naming the argument (or the
    environment variable) it came from, not a pydantic traceback.
    """
    overrides = settings_arguments(sys.argv[1:] if argv is None else argv)
    try:
        return K2Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates the strings
    except ValidationError as error:
        raise JobArgumentError(_explain(error, overrides)) from error


def job_settings(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> K2Settings:
    """The entry point's settings; a bad ``--K2_*`` argument ends the job with a usage error."""
    try:
        return settings_from_job_arguments(argv)
    except JobArgumentError as error:
        parser.error(str(error))


def _explain(error: ValidationError, overrides: Mapping[str, str]) -> str:
    problems = []
    for detail in error.errors():
        field = str(detail["loc"][0]) if detail["loc"] else ""
        source = argument_name(field) if field in overrides else f"K2_{field.upper()}"
        problems.append(f"{source}={detail['input']!r}: {detail['msg']}")
    return "invalid K2 setting: " + "; ".join(problems)
