"""The ``k2`` command."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.table import Table

from k2.local.errors import LocalCloudError

app = typer.Typer(help="K2 market-data lakehouse.", no_args_is_help=True)
local_app = typer.Typer(help="The local cloud: AWS endpoint and Kafka broker.", no_args_is_help=True)
app.add_typer(local_app, name="local")

console = Console()
errors = Console(stderr=True)


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """A failure outside K2's control prints its cause on one line and exits non-zero."""
    try:
        yield
    except LocalCloudError as error:
        errors.print(f"[bold red]error:[/] {error}")
        raise typer.Exit(code=1) from None


@local_app.command("up")
def local_up() -> None:
    """Start the local cloud (idempotent) and provision buckets, database, registry and topics."""
    from k2.local.cloud import LocalCloud

    cloud = LocalCloud()
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


@local_app.command("down")
def local_down() -> None:
    """Stop every process the local cloud started (Kafka's data survives)."""
    from k2.local.cloud import LocalCloud

    with _one_line_errors(), console.status("Stopping the local cloud") as status:
        stopped = LocalCloud().down(progress=lambda step: status.update(step))
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


def _print_status(cloud: object) -> bool:
    from k2.local.cloud import LocalCloud

    assert isinstance(cloud, LocalCloud)
    table = Table("component", "pid", "health", "detail")
    statuses = cloud.status()
    for component in statuses:
        health = "[green]healthy[/]" if component.healthy else "[red]down[/]"
        table.add_row(component.name, str(component.pid or "-"), health, component.detail)
    console.print(table)
    return all(component.healthy for component in statuses)


if __name__ == "__main__":
    app()
