"""``k2 sql``: Athena SQL from the terminal, against AWS or the local cloud's Athena.

One statement from the command line, or an interactive session (statements end with ``;``,
``\\dt`` lists the database's tables, ``\\d <table>`` its columns, ``\\q`` quits). While a
query runs its state, elapsed time and bytes scanned are shown; Ctrl-C cancels it on Athena.
Results print as a table, or go to a CSV or Parquet file (typed from Athena's column types).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from k2.query.athena_client import (
    AthenaQueryFailedError,
    QueryOutcome,
    QueryProgress,
    arrow_table,
    run_query,
)
from k2.settings import K2Settings

console = Console()
errors = Console(stderr=True)

PRINTED_ROWS = 200
"""Rows printed to the terminal at most; a file gets them all."""
QUIT = {"\\q", "quit", "exit"}


class Target(StrEnum):
    AUTO = "auto"
    LOCAL = "local"
    AWS = "aws"


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    PARQUET = "parquet"


@dataclass(frozen=True)
class Session:
    """Where statements run: the Athena client, database and workgroup."""

    athena: Any
    glue: Any
    settings: K2Settings
    label: str


def resolve_session(target: Target) -> Session:
    """``auto``: the endpoint the environment names (K2_AWS_ENDPOINT_URL), else the local cloud
    if it is running, else AWS with the default credential chain."""
    from k2.aws import aws_client

    if target is Target.LOCAL or (
        target is Target.AUTO and "K2_AWS_ENDPOINT_URL" not in os.environ and _local_cloud_up()
    ):
        from k2.local.cloud import LocalCloud

        layout = LocalCloud().layout
        settings = layout.client_settings()
        return Session(
            layout.aws_client("athena"),
            layout.aws_client("glue"),
            settings,
            f"local Athena at {layout.aws_endpoint_url}",
        )
    settings = K2Settings()
    where = settings.aws_endpoint_url or f"AWS {settings.region}"
    return Session(
        aws_client("athena", settings), aws_client("glue", settings), settings, f"Athena, {where}"
    )


def _local_cloud_up() -> bool:
    from k2.local.cloud import AWS_ENDPOINT, LocalCloud

    return any(status.healthy for status in LocalCloud().status() if status.name == AWS_ENDPOINT)


def execute(
    session: Session, sql: str, output: Path | None, output_format: OutputFormat
) -> QueryOutcome | None:
    """Run one statement and show or write its result; None when it failed (already said)."""
    with console.status("Submitting") as status:

        def show(progress: QueryProgress) -> None:
            status.update(
                f"{progress.state.lower()} {progress.query_execution_id}  "
                f"{progress.elapsed_s:5.1f}s  {_size(progress.data_scanned_bytes)} scanned"
            )

        try:
            outcome = run_query(
                session.athena,
                sql,
                database=session.settings.glue_database,
                workgroup=session.settings.athena_workgroup,
                on_progress=show,
            )
        except AthenaQueryFailedError as failure:
            errors.print(f"[bold red]{failure.state}[/] {failure.reason}", highlight=False)
            return None
        except ClientError as error:
            detail = error.response.get("Error", {})
            errors.print(
                f"[bold red]{detail.get('Code', 'error')}:[/] {detail.get('Message', error)}",
                highlight=False,
            )
            return None
    _deliver(outcome, output, output_format)
    return outcome


def _deliver(outcome: QueryOutcome, output: Path | None, output_format: OutputFormat) -> None:
    summary = (
        f"{len(outcome.rows)} row(s), {_size(outcome.data_scanned_bytes)} scanned, "
        f"{outcome.engine_ms} ms  ({outcome.query_execution_id})"
    )
    if output is None or output_format is OutputFormat.TABLE:
        console.print(result_table(outcome))
        if len(outcome.rows) > PRINTED_ROWS:
            summary += f"; first {PRINTED_ROWS} shown, use --output for all"
    elif output_format is OutputFormat.CSV:
        with output.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow([column.name for column in outcome.columns])
            writer.writerows(outcome.rows)
        summary += f" → {output}"
    else:
        pq.write_table(arrow_table(outcome.columns, outcome.rows), output)
        summary += f" → {output}"
    console.print(summary, style="dim", highlight=False)


def result_table(outcome: QueryOutcome) -> Table:
    table = Table(show_lines=False)
    for column in outcome.columns:
        numeric = column.type in {"tinyint", "smallint", "integer", "bigint", "double", "real"}
        table.add_column(
            f"{column.name}\n[dim]{column.type}[/]",
            justify="right" if numeric or column.type == "decimal" else "left",
        )
    for row in outcome.rows[:PRINTED_ROWS]:
        table.add_row(*("[dim]NULL[/]" if value is None else value for value in row))
    return table


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def output_format_for(output: Path | None, requested: OutputFormat | None) -> OutputFormat:
    if requested is not None:
        if requested is not OutputFormat.TABLE and output is None:
            raise typer.BadParameter(f"--format {requested} needs --output FILE")
        return requested
    if output is None:
        return OutputFormat.TABLE
    suffix = output.suffix.lower()
    if suffix == ".csv":
        return OutputFormat.CSV
    if suffix in {".parquet", ".pq"}:
        return OutputFormat.PARQUET
    raise typer.BadParameter(f"cannot tell the format of {output}; give --format csv|parquet")


# -- interactive ----------------------------------------------------------------------------


def interactive(session: Session) -> None:
    """Read statements until ``\\q`` or end of input; a failed statement does not end the
    session."""
    _enable_history(session.settings.state_dir / "sql_history")
    console.print(
        f"{session.label}, database [bold]{session.settings.glue_database}[/], workgroup "
        f"{session.settings.athena_workgroup}. End statements with ';'. "
        "\\dt tables, \\d TABLE columns, \\q quit.",
        highlight=False,
    )
    buffer: list[str] = []
    while True:
        try:
            line = input("k2> " if not buffer else "...> ")
        except EOFError:
            console.print()
            return
        except KeyboardInterrupt:
            console.print()
            buffer.clear()
            continue
        stripped = line.strip()
        if not buffer and stripped in QUIT:
            return
        if not buffer and stripped.startswith("\\"):
            _meta_command(session, stripped)
            continue
        buffer.append(line)
        if stripped.endswith(";"):
            statement = "\n".join(buffer).strip().rstrip(";").strip()
            buffer.clear()
            if statement:
                try:
                    execute(session, statement, None, OutputFormat.TABLE)
                except KeyboardInterrupt:
                    errors.print("cancelled", style="yellow")


def _meta_command(session: Session, command: str) -> None:
    name, _, argument = command.partition(" ")
    database = session.settings.glue_database
    try:
        if name == "\\dt":
            pages = session.glue.get_paginator("get_tables").paginate(DatabaseName=database)
            table = Table("table", "type")
            for page in pages:
                for entry in page["TableList"]:
                    table.add_row(entry["Name"], entry.get("Parameters", {}).get("table_type", ""))
            console.print(table)
        elif name == "\\d" and argument.strip():
            entry = session.glue.get_table(DatabaseName=database, Name=argument.strip())["Table"]
            table = Table("column", "type", "comment")
            for column in entry.get("StorageDescriptor", {}).get("Columns", []):
                table.add_row(column["Name"], column["Type"], column.get("Comment", ""))
            console.print(table)
        else:
            errors.print(f"unknown command {command!r}: \\dt, \\d TABLE or \\q", highlight=False)
    except (ClientError, BotoCoreError) as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False)


def _enable_history(path: Path) -> None:
    try:
        import readline
    except ImportError:  # not on every platform; the session works without it
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        readline.read_history_file(path)
    import atexit

    atexit.register(readline.write_history_file, path)
