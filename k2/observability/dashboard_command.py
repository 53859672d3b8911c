"""`k2 dashboard`: read the platform dashboard's data from CloudWatch and write the PNG and HTML.

The CLI decides where CloudWatch is (the local cloud, or the ``K2_*`` environment: AWS when
``K2_AWS_ENDPOINT_URL`` is unset) and which names the deployment's resources have; everything
after that is here, so the command stays a few lines in :mod:`k2.cli`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from k2.aws import aws_client
from k2.monitoring.dashboard import PLATFORM_DASHBOARD, Dashboard
from k2.monitoring.metrics import Resources
from k2.observability.dashboard_data import (
    DashboardData,
    DashboardSource,
    SourceUnavailableError,
    Window,
    default_length,
    fetch_dashboard,
    parse_since,
)
from k2.observability.dashboard_image import image_size, window_text, write_dashboard
from k2.settings import K2Settings


def dashboard_source(settings: K2Settings, resources: Resources) -> DashboardSource:
    """CloudWatch and CloudWatch Logs clients for ``settings``' endpoint.

    An endpoint URL means the local cloud, whose Logs Insights is partial (see
    :func:`~k2.observability.dashboard_data.local_insights_gap`).
    """
    local = settings.aws_endpoint_url is not None
    return DashboardSource(
        cloudwatch=aws_client("cloudwatch", settings),
        logs=aws_client("logs", settings),
        resources=resources,
        description=(
            f"local cloud, {settings.aws_endpoint_url}"
            if local
            else f"AWS CloudWatch, {settings.region}"
        ),
        evaluates_logs_insights=not local,
    )


def window_length(since: str | None, dashboard: Dashboard = PLATFORM_DASHBOARD) -> timedelta:
    if since is None:
        return default_length(dashboard)
    try:
        return parse_since(since)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from None


def render_dashboard(
    source: DashboardSource,
    length: timedelta,
    png_path: Path,
    html_path: Path | None,
    console: Console,
    *,
    dashboard: Dashboard = PLATFORM_DASHBOARD,
    end: datetime | None = None,
) -> DashboardData:
    """Fetch every panel (with a progress bar), draw, write, and say what is missing."""
    window = Window.for_dashboard(dashboard, end or datetime.now(UTC), length)
    console.print(f"[bold]{dashboard.title}[/]: {window_text(window)} from {source.description}")
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("Reading CloudWatch", total=len(dashboard.panels))

        def advance(done: int, _total: int, title: str) -> None:
            progress.update(task, completed=done, description=f"Reading: {title}")

        try:
            data = fetch_dashboard(dashboard, window, source, advance)
        except SourceUnavailableError as error:
            progress.stop()
            console.print(f"[bold red]error:[/] {error}", highlight=False)
            raise typer.Exit(code=1) from None
    with console.status("Drawing the dashboard"):
        write_dashboard(data, png_path, html_path)
    _summarise(data, console)
    width, height = image_size(dashboard)
    console.print(f"PNG ({width}x{height}): {png_path}", highlight=False)
    if html_path is not None:
        console.print(f"HTML: {html_path}", highlight=False)
    return data


def _summarise(data: DashboardData, console: Console) -> None:
    with_data = [
        panel
        for panel in data.panels
        if any(series.points for series in panel.series)
        or (panel.log_table is not None and panel.log_table.rows)
    ]
    console.print(f"{len(with_data)} of {len(data.panels)} panels have data")
    for panel in data.panels:
        for note in panel.notes:
            console.print(f"  [dim]{panel.panel.title}:[/] {note}", highlight=False)
