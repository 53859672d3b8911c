"""The ``k2`` command."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from k2.domain.decimals import plain_text
from k2.local.errors import LocalCloudError

if TYPE_CHECKING:  # the CLI imports the local cloud lazily, so `k2 --help` stays fast
    from k2.lake.lake_init import TableChange
    from k2.local.cloud import LocalCloud
    from k2.local.feed_demo import FeedDemoReport, Handlers
    from k2.local.feed_reconciliation import SymbolReconciliation
    from k2.local.lake_demo import LakeReport
    from k2.query.ohlcv_check import OhlcvCheckReport

app = typer.Typer(help="K2 market-data lakehouse.", no_args_is_help=True)
local_app = typer.Typer(
    help="The local cloud: AWS endpoint, Kafka broker, exchange simulator and API Gateway.",
    no_args_is_help=True,
)
app.add_typer(local_app, name="local")
lake_app = typer.Typer(help="The lakehouse's Iceberg tables.", no_args_is_help=True)
app.add_typer(lake_app, name="lake")
ohlcv_app = typer.Typer(help="OHLCV bars: build them, check them.", no_args_is_help=True)
app.add_typer(ohlcv_app, name="ohlcv")

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
def local_up(
    pipeline: bool = typer.Option(
        False,
        "--pipeline",
        help="Also run both feed handlers, bronze → silver → gold continuously (one Spark app) "
        "and the freshness check every minute.",
    ),
) -> None:
    """Start the local cloud (idempotent) and provision buckets, database, registry and topics."""
    from k2.local.cloud import LocalCloud

    cloud = LocalCloud()
    cloud.layout.export_client_environment()
    started = time.monotonic()
    with _one_line_errors(), console.status("Starting the local cloud") as status:
        cloud.up(progress=lambda step: status.update(step), pipeline=pipeline)
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


@local_app.command("api-key")
def local_api_key() -> None:
    """Print the local API Gateway's demo API key (send it as the X-API-Key header)."""
    from k2.local.cloud import LocalCloud

    with _one_line_errors():
        typer.echo(LocalCloud().layout.demo_api_key)


@local_app.command("down")
def local_down() -> None:
    """Stop every process the local cloud started. The AWS endpoint's state is in memory, so the
    next `up` starts an empty cloud (Kafka's log is cleared with it)."""
    from k2.local.cloud import LocalCloud

    with _one_line_errors(), console.status("Stopping the local cloud") as status:
        stopped = LocalCloud().down(progress=lambda step: status.update(step))
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")


@lake_app.command("init")
def lake_init(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would change, and change nothing."
    ),
) -> None:
    """Create every K2 table in the Glue catalog, or evolve it to its definition (idempotent).

    Endpoints and names come from the environment (K2_*; `k2 local env` prints the local cloud's).
    Exits 1, having changed nothing, if a table cannot be evolved compatibly.
    """
    from k2.lake.catalog import glue_catalog
    from k2.lake.lake_init import IncompatibleTableChange, init_lake, plan_lake
    from k2.settings import K2Settings

    settings = K2Settings()
    run = plan_lake if dry_run else init_lake
    try:
        with console.status(f"{'Planning' if dry_run else 'Initialising'} the lake"):
            changes = run(glue_catalog(settings), settings.glue_database)
    except IncompatibleTableChange as error:
        for item in error.incompatibilities:
            errors.print(f"[bold red]incompatible:[/] {item}", soft_wrap=True, highlight=False)
        errors.print("nothing was changed", highlight=False)
        raise typer.Exit(code=1) from None
    _print_lake_changes(changes, settings.glue_database, dry_run)


_OUTCOME_STYLE = {"created": "green", "evolved": "yellow", "unchanged": "dim"}


def _print_lake_changes(changes: list[TableChange], database: str, dry_run: bool) -> None:
    verb = "would be" if dry_run else "was"
    table = Table(
        "table", "outcome", "changes", title=f"{database}: what {verb} done (Iceberg, Glue)"
    )
    for change in changes:
        style = _OUTCOME_STYLE[change.outcome.value]
        table.add_row(
            change.table.removeprefix(f"{database}."),
            f"[{style}]{change.outcome.value}[/]",
            "\n".join(change.changes),
        )
    console.print(table)


@app.command("replay")
def replay_command(
    since: str = typer.Option(
        ...,
        "--from",
        help="'earliest'; an ISO-8601 time with zone (bronze rows from that Kafka timestamp); or "
        "topic:partition:offset[,...] (only those partitions, each from its offset).",
    ),
    exchange: Annotated[
        list[str] | None, typer.Option(help="binance and/or kraken (default: both).")
    ] = None,
    data_type: Annotated[
        list[str] | None, typer.Option(help="trades and/or quotes (default: both).")
    ] = None,
) -> None:
    """Rebuild silver, silver_dlq and gold from bronze (the compliance re-run).

    Inserts only rows the tables lack, so replaying what was processed changes nothing and
    replaying after a loss restores exactly what was there.
    """
    from rich.progress import Progress

    from k2.domain.markets import DataType, Exchange
    from k2.jobs.replay import ReplayStart, parse_positions, replay
    from k2.jobs.spark_session import build_spark_session
    from k2.settings import K2Settings

    try:
        start: ReplayStart = None
        if since.count(":") >= 2 and not since[:4].isdigit():  # topic names start with a letter
            start = parse_positions(since)
        elif since != "earliest":
            start = datetime.fromisoformat(since)
            if start.tzinfo is None:
                raise ValueError("the time needs a zone, e.g. 2026-11-26T08:00:00+00:00")
        exchanges = tuple(Exchange(e) for e in exchange or ()) or tuple(Exchange)
        data_types = tuple(DataType(d) for d in data_type or ()) or tuple(DataType)
    except ValueError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(code=2) from None
    settings = K2Settings()
    with Progress(console=console, transient=True) as progress:
        progress.add_task("Replaying bronze into silver and gold", total=None)
        spark = build_spark_session("k2-replay", settings)
        results = replay(spark, settings, start, exchanges, data_types)
    table = Table("bronze table", "bronze rows", "silver rows", "DLQ rows", title="replayed")
    for result in results:
        table.add_row(
            result.source_table,
            str(result.bronze_rows),
            str(result.silver_rows),
            str(result.dlq_rows),
        )
    console.print(table)


def _zoned(text: str, option: str) -> datetime:
    """An ISO-8601 time with a zone, or a usage error (exit 2) that says what is wrong."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"not an ISO-8601 time: {text!r}", param_hint=option) from None
    if moment.tzinfo is None:
        raise typer.BadParameter(
            f"{text!r} needs a zone, e.g. 2026-11-26T08:00:00+00:00", param_hint=option
        )
    return moment


@ohlcv_app.command("run")
def ohlcv_run(
    start: Annotated[
        str | None, typer.Option("--from", help="Backfill from this ISO-8601 time (with zone).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Backfill up to this ISO-8601 time (exclusive).")
    ] = None,
) -> None:
    """Bring every bar table up to date with gold: recompute exactly the windows gold changed
    since the last run. With --from/--to, recompute that range (widened to whole UTC days)."""
    from rich.progress import Progress

    from k2.jobs.ohlcv import TimeRange, run_ohlcv
    from k2.jobs.spark_session import build_spark_session
    from k2.settings import K2Settings

    if (start is None) != (end is None):
        raise typer.BadParameter("a backfill needs both --from and --to")
    backfill = None
    if start is not None and end is not None:
        try:
            backfill = TimeRange(_zoned(start, "--from"), _zoned(end, "--to"))
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
    settings = K2Settings()
    with Progress(console=console, transient=True) as progress:
        progress.add_task("Recomputing OHLCV bars from gold", total=None)
        spark = build_spark_session("k2-ohlcv", settings)
        result = run_ohlcv(spark, settings, backfill)
    console.print(
        f"ohlcv: {result.mode}, {result.minutes} 1m windows recomputed "
        f"(gold snapshot {result.gold_snapshot_id})"
    )


@ohlcv_app.command("check")
def ohlcv_check(
    start: Annotated[
        str | None, typer.Option("--from", help="ISO-8601 time with zone (default: 7 days ago).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="ISO-8601 time with zone (default: now).")
    ] = None,
) -> None:
    """Verify the bars' invariants over a range (whole UTC days): low <= open, close <= high,
    low <= vwap <= high, volume and trade count positive, windows aligned, and every coarser
    bar the exact roll-up of the finer ones. Exits 1 on any violation."""
    from datetime import UTC, datetime, timedelta

    from k2.query.ohlcv_check import check_ohlcv
    from k2.settings import K2Settings

    now = datetime.now(UTC)
    until = _zoned(end, "--to") if end else now
    since = _zoned(start, "--from") if start else until - timedelta(days=7)
    try:
        with console.status("Reading the bar tables"):
            report = check_ohlcv(K2Settings(), since, until, now)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    _print_ohlcv_check(report)
    if not report.ok:
        raise typer.Exit(code=1)


def _print_ohlcv_check(report: OhlcvCheckReport) -> None:
    from k2.domain.ohlcv import ROLLED_UP_FROM
    from k2.domain.timestamps import micros_to_rfc3339

    table = Table("timeframe", "bars", "invariant violations", "roll-up mismatches")
    for timeframe, count in report.bars.items():
        broken = sum(1 for v in report.violations if v.timeframe == timeframe)
        if timeframe not in ROLLED_UP_FROM:
            roll_up = "-"
        elif timeframe in report.roll_ups_skipped:
            roll_up = "not checked (finer bars past retention)"
        else:
            roll_up = str(sum(1 for tf, _ in report.roll_up if tf == timeframe))
        table.add_row(str(timeframe), str(count), str(broken), roll_up)
    start, end = micros_to_rfc3339(report.start_us), micros_to_rfc3339(report.end_us)
    table.title = f"k2 ohlcv check, {start} .. {end}"
    console.print(table)
    for violation in report.violations[:50]:
        console.print(f"[red]violation[/] {violation}", highlight=False)
    for timeframe, mismatch in report.roll_up[:50]:
        console.print(f"[red]roll-up[/] {timeframe}: {mismatch}", highlight=False)
    verdict = "[green]all invariants hold[/]" if report.ok else "[bold red]invariants violated[/]"
    console.print(verdict)


@app.command("feed")
def feed(
    exchange: str | None = typer.Option(
        None, help="binance or kraken (default: the K2_FEED_EXCHANGE environment variable)."
    ),
    duration: float | None = typer.Option(
        None, min=0.1, help="Stop after this many seconds (default: until SIGTERM/SIGINT)."
    ),
) -> None:
    """Run one exchange's feed handler: WebSocket -> Kafka, gap-free, until SIGTERM.

    Everything else comes from the environment (K2_* and K2_FEED_*; `k2 local env` prints the
    local cloud's). The process exits 0 after a clean drain and flush, 1 on a delivery failure.
    """
    from pydantic import ValidationError

    from k2.domain.markets import Exchange
    from k2.feeds.feed_service import serve
    from k2.feeds.feed_settings import FeedSettings
    from k2.settings import K2Settings

    try:
        if exchange is None:
            settings = FeedSettings()  # K2_FEED_EXCHANGE, as the Fargate task sets it
        else:
            settings = FeedSettings(exchange=Exchange(exchange.lower()))
    except (ValueError, ValidationError) as error:
        errors.print(f"[bold red]error:[/] invalid feed configuration: {error}", highlight=False)
        raise typer.Exit(code=2) from None
    raise typer.Exit(code=serve(settings, K2Settings(), duration=duration))


@app.command("cost")
def cost(
    rate: Annotated[
        list[int] | None,
        typer.Option(
            "--rate",
            help="Messages (trades + quotes) per second; repeatable (default: 1k, 10k, 100k).",
        ),
    ] = None,
    detail: bool = typer.Option(False, "--detail", help="Every line item with its arithmetic."),
    config_path: Annotated[
        Path | None,
        typer.Option("--config", help="A JSON deployment config (the shape of DeploymentConfig)."),
    ] = None,
    markdown: bool = typer.Option(False, "--markdown", help="Markdown (what docs/cost.md embeds)."),
) -> None:
    """The monthly cost and the cost per million messages, from the configured resources and
    published AWS prices (docs/cost.md). No AWS calls."""
    import json

    from pydantic import ValidationError

    from k2.cost.model import estimate
    from k2.cost.numbers import num
    from k2.cost.report import DEFAULT_RATES, detail_table, markdown_report, summary_table
    from k2.deployment.config import DeploymentConfig

    rates = tuple(rate) if rate else DEFAULT_RATES
    if any(r <= 0 for r in rates):
        raise typer.BadParameter("rates must be positive", param_hint="--rate")
    try:
        config = (
            DeploymentConfig.model_validate(json.loads(config_path.read_text()))
            if config_path
            else DeploymentConfig()
        )
        breakdowns = [estimate(config, r) for r in rates]
    except (OSError, json.JSONDecodeError, ValidationError, ValueError) as error:
        errors.print(
            f"[bold red]error:[/] invalid deployment config {config_path}: {error}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=2) from None
    if markdown:
        typer.echo(markdown_report(config, rates, detail=detail), nl=False)
        return
    console.print(summary_table(breakdowns))
    for breakdown in breakdowns:
        if detail:
            console.print(detail_table(breakdown))
        for note in breakdown.notes:
            console.print(
                f"[yellow]note[/] at {num(breakdown.rate)} msgs/s: {note}", highlight=False
            )


@app.command("sql")
def sql(
    query: Annotated[
        str | None,
        typer.Argument(help="One Athena (Trino) SQL statement; none: an interactive session."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write every row to this file (.csv or .parquet)."),
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--format", help="table, csv or parquet (default: from --output).")
    ] = None,
    target: Annotated[
        str,
        typer.Option(
            help="auto: the endpoint K2_AWS_ENDPOINT_URL names, else the local cloud if it is "
            "running, else AWS; local; aws."
        ),
    ] = "auto",
) -> None:
    """Run Athena SQL on the lake's tables (database and workgroup from K2_* settings).

    Time travel works as on Athena: `FROM t FOR VERSION AS OF <snapshot id>` or
    `FOR TIMESTAMP AS OF TIMESTAMP '2026-11-26 08:00:00 UTC'`. Only reads are allowed.
    """
    from k2.sql_command import (
        OutputFormat,
        Target,
        execute,
        interactive,
        output_format_for,
        resolve_session,
    )

    try:
        chosen = output_format_for(output, OutputFormat(output_format) if output_format else None)
        session = resolve_session(Target(target))
    except ValueError as error:
        errors.print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(code=2) from None
    if query is None:
        interactive(session)
        return
    console.print(f"[dim]{session.label}[/]", highlight=False)
    if execute(session, query, output, chosen) is None:
        raise typer.Exit(code=1)


@app.command("demo")
def demo(
    seconds: float = typer.Option(40.0, min=10.0, help="How long the feed handlers run."),
) -> None:
    """The platform end to end on the local cloud: both exchanges' feeds into Kafka under every
    fault, reconciled against the simulator's ground truth, then bronze, silver and gold in
    Iceberg, with gold reconciled against the same ground truth."""
    from k2.local.cloud import LocalCloud
    from k2.local.feed_demo import run_feed_demo

    cloud = LocalCloud()
    cloud.layout.export_client_environment()
    os.environ["K2_METRICS_STDOUT"] = "false"  # this stdout is a terminal; metrics are shipped
    with _one_line_errors():
        if not all(component.healthy for component in cloud.status()):
            raise LocalCloudError("the local cloud is not running; start it with `k2 local up`")
        console.print(
            f"[bold]1. Feeds[/]: Binance and Kraken handlers for {seconds:.0f}s against the "
            "exchange simulator, with skips, duplicates, malformed frames, a disconnect, a server "
            "shutdown and a stall injected"
        )
        log_file = _log_to_file(cloud.layout.logs / "demo.log")
        console.print(f"handler logs: {log_file}")
        with Live(_feed_table({}), console=console, refresh_per_second=4) as live:
            report = run_feed_demo(
                cloud.layout, seconds, lambda handlers: live.update(_feed_table(handlers))
            )
        console.print()
        _print_reconciliation(report.reconciliations, "Kafka vs the simulator's ground truth")
        _print_dead_letters(report)
        console.print(
            "[bold]2. Lake[/]: bronze (Kafka as it was), silver (decoded, validated), gold "
            "(MERGEd, one row per trade), each job as a scheduled availableNow run"
        )
        from k2.local.lake_demo import run_lake_step

        with console.status("Running the Spark jobs") as status:
            lake = run_lake_step(
                cloud.layout.client_settings(),
                report.reconciliations,
                cloud.layout.simulator_ground_truth,
                lambda step: status.update(step),
            )
    _print_lake(lake)
    api_ok = _run_api_step(cloud)
    sql_ok = _run_sql_step()
    _run_observability_step(cloud)
    console.print(
        f"logs: {cloud.layout.logs}   AWS endpoint: {cloud.layout.aws_endpoint_url}   "
        f"Kafka: {cloud.layout.kafka_bootstrap_servers}   "
        f"ground truth: {cloud.layout.simulator_ground_truth}   "
        f"API: {cloud.layout.api_gateway_url}"
    )
    if not report.exact or not all(r.exact for r in lake.gold_reconciliation):
        raise typer.Exit(code=1)
    if not lake.ohlcv_check.ok or not api_ok or not sql_ok:
        raise typer.Exit(code=1)


def _run_api_step(cloud: LocalCloud) -> bool:
    """The query API over the demo's gold data, with the curl commands a reader can paste."""
    from k2.local.api_demo import KEY_VARIABLE, run_api_demo

    console.print(
        "[bold]3. API[/]: the query API's Lambda behind the local API Gateway, called with curl"
    )
    with _one_line_errors(), console.status("Calling the API"):
        results = run_api_demo(cloud.layout.api_gateway_url, cloud.layout.demo_api_key)
    console.print(f"export {KEY_VARIABLE}=$(.venv/bin/k2 local api-key)", highlight=False)
    for result in results:
        colour = "green" if result.ok else "red"
        console.print(f"[dim]# {result.call.description}[/]")
        console.print(result.command, highlight=False, soft_wrap=True)
        console.print(f"  [{colour}]→ {result.summary}[/]", highlight=False)
    return all(result.ok for result in results)


def _run_sql_step() -> bool:
    """The Analytics stack's daily-VWAP named query, as saved in the local research work group,
    through `k2 sql` on the local endpoint's Athena."""
    from k2.local.observability_demo import DEMO_NAMED_QUERY, saved_named_query
    from k2.sql_command import OutputFormat, Target, execute, resolve_session

    console.print(
        "[bold]4. SQL[/]: Athena's API on the local endpoint (Trino SQL on DuckDB over the Iceberg "
        f"tables), running the saved named query {DEMO_NAMED_QUERY}"
    )
    session = resolve_session(Target.AUTO)
    sql = saved_named_query(session.athena, session.settings.athena_workgroup, DEMO_NAMED_QUERY)
    console.print(f'k2 sql "{" ".join(sql.split())}"', highlight=False, soft_wrap=True)
    return execute(session, sql, None, OutputFormat.TABLE) is not None


def _run_observability_step(cloud: LocalCloud) -> None:
    """Freshness measured, every queued metric sent, then the platform dashboard rendered from
    the local CloudWatch and the alarms' states as its evaluator left them."""
    from k2.local.monitoring_resources import local_resources
    from k2.local.observability_demo import alarm_states, measure_freshness
    from k2.observability.dashboard_command import dashboard_source, render_dashboard, window_length

    console.print(
        "[bold]5. Metrics[/]: namespace K2 (EMF from the feed handlers, jobs, API and the "
        "freshness check) and the AWS/* metrics of the local gateway, in the local CloudWatch"
    )
    settings = cloud.layout.client_settings()
    with console.status("Measuring freshness and sending the metrics"):
        ages = measure_freshness(settings)
    console.print(
        "freshness (GoldTradeAge): "
        + ", ".join(f"{exchange} {age:.0f} s" for exchange, age in ages.items()),
        highlight=False,
    )
    folder = cloud.layout.root / "dashboard"
    folder.mkdir(parents=True, exist_ok=True)
    render_dashboard(
        dashboard_source(settings, local_resources(settings)),
        window_length("20m"),
        folder / "k2-platform.png",
        folder / "k2-platform.html",
        console,
    )
    table = Table("alarm", "state", "reason", title="Alarms (evaluated by the local CloudWatch)")
    style = {"OK": "green", "ALARM": "red", "INSUFFICIENT_DATA": "yellow"}
    for name, state, reason in alarm_states(cloud.layout.aws_client("cloudwatch"), settings):
        table.add_row(name, f"[{style.get(state, 'white')}]{state}[/]", reason)
    console.print(table)


def _log_to_file(path: Path) -> Path:
    """The handlers' logs go to a file so the live table stays readable."""
    import logging

    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    k2_logger = logging.getLogger("k2")
    k2_logger.addHandler(handler)
    k2_logger.setLevel(logging.INFO)
    k2_logger.propagate = False
    return path


def _feed_table(handlers: Handlers) -> Table:
    table = Table(
        "exchange",
        "trades",
        "quotes",
        "dups",
        "gaps",
        "refilled",
        "DLQ",
        "reconn",
        "rotated",
        "queue",
        title="live: WebSocket → Kafka (acks=all)",
    )
    for exchange, handler in handlers.items():
        counters, session = handler.counters, handler.session.stats
        table.add_row(
            exchange.value,
            str(counters.trades_published),
            str(counters.quotes_published),
            str(counters.duplicate_trades + counters.duplicate_quotes),
            str(counters.gaps_detected),
            str(counters.trades_backfilled),
            str(counters.dead_letters),
            str(session.reconnects),
            str(session.rotations),
            str(handler.queue.qsize()),
        )
    return table


def _print_reconciliation(
    results: list[SymbolReconciliation], title: str, where: str = "in Kafka"
) -> None:
    table = Table(
        "exchange",
        "symbol",
        "trade ids",
        "made",
        where,
        "missing",
        "twice",
        "different",
        "verdict",
        title=title,
    )
    for result in results:
        table.add_row(
            result.exchange.value,
            result.symbol,
            f"{result.first_id}..{result.last_id}",
            str(result.made),
            str(result.published),
            str(len(result.missing)),
            str(len(result.duplicated)),
            str(len(result.different) + len(result.unknown)),
            "[green]exact[/]" if result.exact else "[red]MISMATCH[/]",
        )
    console.print(table)


def _print_dead_letters(report: FeedDemoReport) -> None:
    for exchange, count in report.dead_letters.items():
        sent = report.malformed_sent[exchange]
        verdict = "[green]one each[/]" if count == sent else "[red]MISMATCH[/]"
        console.print(
            f"{exchange.value}: {sent} malformed frames sent, {count} DLQ records ({verdict}); "
            f"{report.quotes[exchange]} quotes published"
        )
    console.print(f"faults injected: {', '.join(report.faults_injected)}")


def _print_lake(report: LakeReport) -> None:
    jobs = Table("job", "table", "rows in", "rows out", title="Spark jobs (availableNow)")
    for bronze in report.bronze:
        jobs.add_row("bronze", bronze.table, str(bronze.rows_appended), str(bronze.rows_appended))
    for silver in report.silver:
        out = f"{silver.silver_rows} silver + {silver.dlq_rows} DLQ"
        jobs.add_row("silver", silver.silver_table, str(silver.rows_in), out)
    for gold in report.gold:
        jobs.add_row("gold", gold.table, str(gold.rows_in), "MERGE (insert if absent)")
    console.print(jobs)
    _print_reconciliation(
        report.gold_reconciliation,
        "gold_crypto_trades (pyiceberg + DuckDB) vs the ground truth",
        where="in gold",
    )
    quotes = ", ".join(
        f"{exchange} {count}" for exchange, count in sorted(report.gold_quotes.items())
    )
    console.print(f"gold_crypto_quotes (one row per quote key): {quotes or 'none'}")
    if report.dlq_reasons:
        dlq = Table("source table", "class", "reason", "rows", title="silver_dlq")
        for source, reason_class, reason, rows in report.dlq_reasons:
            dlq.add_row(source, reason_class, reason, str(rows))
        console.print(dlq)
    ohlcv = report.ohlcv
    bars = Table(
        *("bars", "market", "window (UTC)", "open", "high", "low", "close", "volume", "vwap"),
        "trades",
        title=f"gold_ohlcv_*, the latest bar of each ({ohlcv.mode} run, "
        f"{ohlcv.minutes} 1m windows recomputed)",
    )
    for bar in report.latest_bars:
        bars.add_row(
            bar["timeframe"],
            f"{bar['exchange']} {bar['symbol']}",
            bar["window_start"].strftime("%m-%d %H:%M"),
            *(plain_text(bar[c]) for c in ("open", "high", "low", "close", "volume", "vwap")),
            str(bar["trade_count"]),
        )
    console.print(bars)
    _print_ohlcv_check(report.ohlcv_check)


def _print_status(cloud: LocalCloud) -> bool:
    table = Table("component", "pid", "health", "detail")
    statuses = cloud.status()
    for component in statuses:
        health = "[green]healthy[/]" if component.healthy else "[red]down[/]"
        table.add_row(component.name, str(component.pid or "-"), health, component.detail)
    console.print(table)
    return all(component.healthy for component in statuses)


@app.command("dashboard")
def dashboard(
    since: Annotated[
        str | None, typer.Option(help="How far back: 3h, 90m, 2d (default: 3h).")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The PNG.")] = Path(
        "docs/img/dashboard.png"
    ),
    html: Annotated[
        Path | None, typer.Option(help="The HTML page (default: beside the PNG, .html).")
    ] = None,
    target: Annotated[
        str,
        typer.Option(help="local: the local cloud; aws: K2_* settings (AWS if no endpoint URL)."),
    ] = "local",
) -> None:
    """Render the platform CloudWatch dashboard (k2.monitoring) into a PNG and an HTML page."""
    from k2.local.cloud import AWS_ENDPOINT, LocalCloud
    from k2.local.monitoring_resources import local_resources
    from k2.observability.dashboard_command import dashboard_source, render_dashboard, window_length
    from k2.settings import K2Settings

    length = window_length(since)
    if target not in ("local", "aws"):
        raise typer.BadParameter("local or aws", param_hint="--target")
    settings = K2Settings()
    if target == "local":
        cloud = LocalCloud()
        with _one_line_errors():
            if not any(s.healthy for s in cloud.status() if s.name == AWS_ENDPOINT):
                raise LocalCloudError("the local cloud is not running; start it with `k2 local up`")
        cloud.layout.export_client_environment()
        settings = cloud.layout.client_settings()
    source = dashboard_source(settings, local_resources(settings))
    render_dashboard(source, length, output, html or output.with_suffix(".html"), console)


if __name__ == "__main__":
    app()
