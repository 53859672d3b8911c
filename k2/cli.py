"""The ``k2`` command."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from k2.local.errors import LocalCloudError

if TYPE_CHECKING:  # the CLI imports the local cloud lazily, so `k2 --help` stays fast
    from k2.local.cloud import LocalCloud

app = typer.Typer(help="K2 market-data lakehouse.", no_args_is_help=True)
local_app = typer.Typer(
    help="The local cloud: AWS endpoint and Kafka broker.", no_args_is_help=True
)
app.add_typer(local_app, name="local")

console = Console()
errors = Console(stderr=True)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """A failure outside K2's control prints its cause on one line and exits non-zero."""
    try:
        yield
    except LocalCloudError as error:
        errors.print(f"[bold red]error:[/] {error}", soft_wrap=True, highlight=False)
        raise typer.Exit(code=1) from None


@local_app.command("up")
def local_up() -> None:
    """Start the local cloud (idempotent) and provision buckets, database, registry and topics."""
    from k2.local.cloud import LocalCloud

    cloud = LocalCloud()
    cloud.layout.export_client_environment()
    started = time.monotonic()
    with _one_line_errors(), console.status("Starting the local cloud") as status:
        cloud.up(progress=lambda step: status.update(step))
    console.print(f"[green]local cloud up[/] in {time.monotonic() - started:.1f}s")
    _print_status(cloud)
    console.print(f"state and logs: {cloud.layout.root}")


@local_app.command("status")
def local_status() -> None:
    """Report each component healthy or not; exits 1 unless all are healthy."""
    from k2.local.cloud import LocalCloud

    if not _print_status(LocalCloud()):
        raise typer.Exit(code=1)


@local_app.command("env")
def local_env() -> None:
    """Print `export` lines that point boto3, pyiceberg, Spark and the jobs at the local cloud."""
    import shlex

    from k2.local.cloud import LocalCloud

    for key, value in LocalCloud().layout.client_environment().items():
        typer.echo(f"export {key}={shlex.quote(value)}")


@local_app.command("down")
def local_down() -> None:
    """Stop every process the local cloud started (Kafka's data survives)."""
    from k2.local.cloud import LocalCloud

    with _one_line_errors(), console.status("Stopping the local cloud") as status:
        stopped = LocalCloud().down(progress=lambda step: status.update(step))
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@app.command("demo")
def demo(
    records: int = typer.Option(2000, min=1, help="Trades to publish."),
    seed: int = typer.Option(2026, help="Seed of the synthetic market."),
) -> None:
    """Run the foundation slice on the local cloud and show what landed where."""
    from k2.local.cloud import LocalCloud
    from k2.local.foundation_demo import run_foundation_slice

    cloud = LocalCloud()
    cloud.layout.export_client_environment()
    with _one_line_errors():
        if not all(component.healthy for component in cloud.status()):
            raise LocalCloudError("the local cloud is not running; start it with `k2 local up`")
        with console.status("Running the slice") as status:
            report = run_foundation_slice(
                cloud.layout.client_settings(), records, seed, lambda step: status.update(step)
            )
    console.print(
        f"published [bold]{report.published}[/] trades to [cyan]{report.topic}[/]; the bronze job "
        f"appended [bold]{report.bronze_run.rows_appended}[/] rows to "
        f"[cyan]{report.bronze_run.table}[/] in {report.bronze_run.batches} batch(es)"
    )
    table = Table(
        "kafka partition",
        "bronze rows",
        "first offset",
        "last offset",
        title="bronze_binance_trades, read back through pyiceberg + DuckDB",
    )
    for partition, rows, first, last in report.bronze_rows_by_partition:
        table.add_row(str(partition), str(rows), str(first), str(last))
    console.print(table)
    console.print(f"Iceberg table location: {report.table_location}")
    console.print(
        f"logs: {cloud.layout.logs}   AWS endpoint: {cloud.layout.aws_endpoint_url}   "
        f"Kafka: {cloud.layout.kafka_bootstrap_servers}"
    )


def _print_status(cloud: LocalCloud) -> bool:
    table = Table("component", "pid", "health", "detail")
    statuses = cloud.status()
    for component in statuses:
        health = "[green]healthy[/]" if component.healthy else "[red]down[/]"
        table.add_row(component.name, str(component.pid or "-"), health, component.detail)
    console.print(table)
    return all(component.healthy for component in statuses)


if __name__ == "__main__":
    app()
