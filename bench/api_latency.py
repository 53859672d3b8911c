"""Query API latency through the local API Gateway, 16 concurrent clients, 10M gold trades.

    .venv/bin/python -m bench.api_latency [--trades 10000000] [--clients 16] [--duration 180]
        [--cold-starts 5] [--seed 7] [--rebuild] [--keep-cloud]

Starts a local cloud of its own (state dir ``$TMPDIR/k2-bench-api``, AWS endpoint on 34566,
gateway on 34580; each ``K2_LOCAL_*`` variable overrides): the AWS endpoint only (S3 + Glue; no
Kafka, no simulator, which would only add noise), and stops it at the end unless ``--keep-cloud``.
The endpoint keeps S3 and Glue in memory, so the lake survives only while it runs: with
``--keep-cloud`` the next run reuses the lake if it has ``--trades`` gold rows in two commits and
1h bars (``--rebuild`` forces a new one).

Lake (Glue database ``k2_bench_api``): gold_crypto_trades generated in Spark SQL from
``spark.range`` by ``bench.ohlcv_throughput.trades_frame`` (4 markets, uniform over 7 UTC days,
8-place decimals), appended in two commits (90 %, then 10 %), then every OHLCV timeframe built by
``k2.jobs.ohlcv.run_ohlcv``.

Serving: ``python -m k2.local.api_gateway`` (the cloud's component, on its api port) in front of
``functions/api/handler.py``, with the cloud's client environment plus ``K2_GLUE_DATABASE`` (the
bench database) and ``K2_API_KEYS``, and a usage-plans file of its own whose one key has a plan of
1,000,000 requests/s, so throttling never shapes the figures. The handler runs with the API's
defaults (metadata TTL 30 s).

Load: N client threads, each with its own keep-alive ``requests.Session``, asking the mix in turn
(client i starting at question i mod 4) for ``--duration`` seconds: (1) ``GET /v1/ohlcv/1h``, 24
hourly bars of one symbol; (2) ``GET /v1/trades``, one symbol over 5 minutes (limit 100,000: all
of them); (3) ``POST /v1/aggregations``, the VWAP of one symbol over 24 hours; (4) question 2
with ``as_of`` between the two gold commits (time travel to the first). Symbol and window are
random per question, from a seeded generator per client. Reported: p50/p99 per question, the
count, failures, and answers per second over the whole mix. One untimed warm-up request per
question first (the handler's import happens on the gateway's first request).

Baseline in the same run: the same questions by N threads (a cursor each) of one in-memory DuckDB
over the data files of the right snapshot, as pyiceberg plans a whole-table scan, copied once
from the local S3 into a temp dir (DuckDB cannot read this S3 without its httpfs extension, which
is not installed); read_parquet with filter push-down and cached footers. VWAP: exact decimal
sums in DuckDB, the one quotient rounded as the API rounds it. Before the load, one question of
each kind is answered both ways and compared.

Cold start: ``--cold-starts`` fresh processes (``bench.api_bench_coldstart``) each import the
handler with the gateway's environment and serve question 1 from a REST proxy event; medians.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.api_bench_coldstart import measure
from bench.api_bench_lake import (
    DATABASE,
    Lake,
    LocalFiles,
    bench_cloud,
    bench_settings,
    build_lake,
    console,
    existing_lake,
    handler_environment,
    load_average,
    local_files,
    start_aws_endpoint,
    start_gateway,
    step,
    write_usage_plans,
)
from bench.api_bench_load import (
    KINDS,
    LABELS,
    OHLCV,
    TRADES_5M,
    VWAP,
    ApiClient,
    ApiTarget,
    DuckDbClient,
    LoadResult,
    Question,
    baseline_answer,
    baseline_database,
    draw,
    http_request,
    percentile,
    run_load,
)
from k2.local.cloud import API_GATEWAY, LocalCloud
from k2.local.processes import ManagedProcess

# --- checking that both sides answer the same ----------------------------------------------------


def _api_data(client: ApiClient, question: Question) -> list[dict[str, Any]]:
    response = client.send(question)
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def compare(client: ApiClient, cursor: Any, question: Question) -> str:
    """The API's answer against DuckDB's: row count and keys (or the VWAP and trade count)."""
    api = _api_data(client, question)
    duck = baseline_answer(cursor, question)
    api_keys: list[tuple[Any, ...]]
    duck_keys: list[tuple[Any, ...]]
    if question.kind == VWAP:
        api_keys = [(a["exchange"], Decimal(a["vwap"]), a["trade_count"]) for a in api]
        duck_keys = [(e, v, n) for e, _, v, n in duck]
        shown = f"vwap {api[0]['vwap'] if api else '-'} over {api[0]['trade_count'] if api else 0}"
    elif question.kind == OHLCV:
        api_keys = [(a["window_start"][:19], Decimal(a["close"])) for a in api]
        duck_keys = [(row[2].astimezone(UTC).isoformat()[:19], row[7]) for row in duck]
        shown = f"{len(api)} bars"
    else:
        api_keys = [(a["trade_id"],) for a in api]
        duck_keys = [(row[6],) for row in duck]
        shown = f"{len(api)} trades"
    verdict = "EQUAL" if api_keys == duck_keys else f"DIFFERENT (DuckDB: {len(duck)} rows)"
    return f"{verdict}: {shown}"


def verify(target: ApiTarget, connection: Any, seed: int) -> None:
    client, cursor = ApiClient(target), connection.cursor()
    rng = random.Random(seed)
    try:
        for kind in KINDS:
            question = draw(kind, rng)
            console.log(
                f"check {LABELS[kind]} {question.symbol}: {compare(client, cursor, question)}"
            )
        then = baseline_answer(cursor, question)  # the last one: the time-travel question
        now = baseline_answer(cursor, replace(question, kind=TRADES_5M))
        console.log(f"time travel: {len(then)} trades in that window then, {len(now)} now")
    finally:
        client.close()
        cursor.close()


# --- printing ------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:9.1f}"


def print_figures(api: LoadResult, duck: LoadResult, clients: int) -> None:
    print(
        f"\n  {clients} concurrent clients; latency in ms over every request (a failed one: "
        "until its error came); ratio = API / DuckDB\n"
        f"  {'question':34} {'API p50':>9} {'API p99':>9} {'count':>6} {'fail':>5}"
        f" | {'DuckDB p50':>10} {'DuckDB p99':>10} {'count':>7} | {'p50 ratio':>9} {'p99 ratio':>9}"
    )
    for kind in KINDS:
        a, d = api.latencies[kind], duck.latencies[kind]
        a50, a99, d50, d99 = (
            percentile(a, 50),
            percentile(a, 99),
            percentile(d, 50),
            percentile(d, 99),
        )
        print(
            f"  {LABELS[kind]:34} {_ms(a50)} {_ms(a99)} {len(a):6d} "
            f"{sum(api.failures[kind].values()):5d} | {_ms(d50):>10} {_ms(d99):>10} {len(d):7d} | "
            f"{a50 / d50:8.1f}x {a99 / d99:8.1f}x"
        )
        if api.failures[kind]:
            ok = api.succeeded[kind]
            print(
                f"  {'':34} failures: {dict(api.failures[kind])}; the {len(ok)} 200s alone: "
                f"p50 {_ms(percentile(ok, 50)).strip()}, p99 {_ms(percentile(ok, 99)).strip()}"
            )
    print(
        f"  {'all four, 200s per second':34} {api.rate:9.2f} {'':9} {api.answered:6d} "
        f"{'':5} | {duck.rate:10.1f} {'':10} {duck.answered:7d} | "
        f"{api.rate / duck.rate:8.4f}x   (over {api.wall_s:.0f} s / {duck.wall_s:.0f} s)"
    )


def print_cold_starts(runs: list[dict[str, Any]]) -> None:
    def median(name: str) -> float:
        return float(statistics.median(run[name] for run in runs))

    print(
        f"\n  Lambda cold start, median of {len(runs)} fresh processes "
        f"(statuses {sorted({run['status'] for run in runs})}):\n"
        f"  import handler {median('import_s'):.2f} s + first query ({LABELS[OHLCV]}) "
        f"{median('first_query_s'):.2f} s = {median('import_s') + median('first_query_s'):.2f} s; "
        f"whole process {median('process_s'):.2f} s\n"
        "  each: " + ", ".join(f"{r['import_s']:.2f}+{r['first_query_s']:.2f}" for r in runs)
    )


# --- the run -------------------------------------------------------------------------------------


def prepare_lake(cloud: LocalCloud, trades: int, rebuild: bool) -> Lake:
    settings = bench_settings(cloud)
    lake = None if rebuild else existing_lake(settings, trades)
    if lake is not None:
        console.log(f"reusing the lake in {DATABASE} ({trades:,} gold trades)")
        return lake
    with step(f"building the lake: {trades:,} gold trades + bars"):
        build_lake(settings, trades)
    built = existing_lake(settings, trades)
    if built is None:
        raise RuntimeError("the lake does not look as built")
    return built


def warm_up(target: ApiTarget, seed: int) -> None:
    client, rng = ApiClient(target), random.Random(seed + 1)
    try:
        for kind in KINDS:
            started = time.perf_counter()
            response = client.send(draw(kind, rng))
            console.log(
                f"warm-up {LABELS[kind]}: HTTP {response.status_code} in "
                f"{time.perf_counter() - started:.2f} s"
                + (" (the handler's import)" if kind == OHLCV else "")
            )
    finally:
        client.close()


def run(cloud: LocalCloud, args: argparse.Namespace) -> None:
    with step("starting the bench cloud's AWS endpoint"):
        start_aws_endpoint(cloud)
    lake = prepare_lake(cloud, args.trades, args.rebuild)
    console.log(
        f"lake: {lake.trades:,} trades, earlier snapshot {lake.earlier_rows:,} rows; as_of "
        f"{lake.as_of}; {lake.bars_1h} 1h bars; load average {load_average()}"
    )
    plans, key = write_usage_plans(cloud)
    environment = handler_environment(cloud, key)
    gateway: ManagedProcess | None = None
    with tempfile.TemporaryDirectory(prefix="k2-bench-api-parquet-") as folder:
        with step("copying the snapshots' data files for the DuckDB baseline"):
            files: LocalFiles = local_files(bench_settings(cloud), lake, Path(folder))
        console.log(
            f"{len(files.trades_now)} gold files now, {len(files.trades_then)} at the earlier "
            f"snapshot, {len(files.bars_1h)} 1h bar files; {files.total_bytes / 2**20:,.0f} MiB"
        )
        connection = baseline_database(files.trades_now, files.trades_then, files.bars_1h)
        try:
            gateway = start_gateway(cloud, plans, environment)
            target = ApiTarget(cloud.layout.api_gateway_url, key, lake.as_of)
            warm_up(target, args.seed)
            verify(target, connection, args.seed)
            load_before = load_average()
            with step(f"API: {args.clients} clients for {args.duration:g} s"):
                api = run_load(
                    [ApiClient(target) for _ in range(args.clients)], args.duration, args.seed
                )
            load_api = load_average()
            with step(f"DuckDB baseline: {args.clients} threads for {args.duration:g} s"):
                duck = run_load(
                    [DuckDbClient(connection) for _ in range(args.clients)],
                    args.duration,
                    args.seed,
                )
            load_duck = load_average()
        finally:
            connection.close()
    with step(f"cold starts: {args.cold_starts} fresh processes"):
        method, path, query, body = http_request(draw(OHLCV, random.Random(args.seed)), lake.as_of)
        request = {
            "method": method,
            "path": path,
            "query": {k: str(v) for k, v in query.items()},
            "api_key": key,
            "body": None if body is None else json.dumps(body),
        }
        colds = [
            measure(cloud.layout.api_handler, request, environment) for _ in range(args.cold_starts)
        ]
    load_end = load_average()
    if gateway is not None:
        gateway.stop()
    print(
        f"\nK2 query API bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {args.trades:,} gold "
        f"trades (4 markets, 7 days, 2 commits); gateway {cloud.layout.api_gateway_url}"
    )
    print(
        f"load average (1/5/15 min, {os.cpu_count()} cores): before the API load {load_before};"
        f" after it {load_api}; after the baseline {load_duck}; at the end {load_end}"
    )
    print_figures(api, duck, args.clients)
    print_cold_starts(colds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trades", type=int, default=10_000_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load, each side")
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="build the lake even if it exists")
    parser.add_argument(
        "--keep-cloud", action="store_true", help="leave the AWS endpoint (and the lake) running"
    )
    args = parser.parse_args()
    cloud = bench_cloud()
    console.log(f"bench cloud {cloud.layout.root}; load average {load_average()}")
    cloud.layout.export_client_environment()
    try:
        run(cloud, args)
    finally:
        if args.keep_cloud:
            cloud.process(API_GATEWAY).stop()
            console.log(
                f"left the AWS endpoint running: K2_LOCAL_STATE_DIR={cloud.layout.root} "
                f"K2_LOCAL_AWS_PORT={cloud.layout.settings.aws_port} k2 local down"
            )
        else:
            cloud.down()


if __name__ == "__main__":
    main()
