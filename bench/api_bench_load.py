"""The four questions, asked by N concurrent clients: of the API through the gateway, or of DuckDB
directly on the Parquet data files (the baseline).

Every client draws its questions from its own seeded generator (symbol and time window random,
within the lake's 7 days), and starts at a different question of the mix, so that the clients do
not ask the same thing at the same moment.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import requests

from bench.ohlcv_throughput import DAY0, DAYS, MARKETS
from k2.domain.ohlcv import DAY_MICROS, HOUR_MICROS, MINUTE_MICROS, Timeframe
from k2.domain.ohlcv import vwap as exact_vwap
from k2.query.fields import BARS, TRADES
from k2.query.limits import MAX_ROWS_PER_REQUEST

OHLCV, TRADES_5M, VWAP, TIME_TRAVEL = "ohlcv", "trades", "vwap", "time_travel"
KINDS = (OHLCV, TRADES_5M, VWAP, TIME_TRAVEL)
LABELS = {
    OHLCV: "OHLCV 1h x 24 bars",
    TRADES_5M: "trades, 1 symbol, 5 min",
    VWAP: "VWAP, 1 symbol, 1 day",
    TIME_TRAVEL: "trades 5 min, as_of (time travel)",
}
SECOND = 1_000_000
SPAN_US = DAYS * DAY_MICROS
HTTP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Question:
    kind: str
    symbol: str
    start_us: int
    end_us: int


def draw(kind: str, rng: random.Random) -> Question:
    """One question of ``kind`` with a random symbol and window inside the lake's days."""
    symbol = rng.choice(MARKETS).symbol
    if kind == OHLCV:
        start = DAY0 + rng.randrange(DAYS * 24 - 24 + 1) * HOUR_MICROS
        return Question(kind, symbol, start, start + 24 * HOUR_MICROS)
    if kind == VWAP:
        start = DAY0 + rng.randrange((SPAN_US - DAY_MICROS) // MINUTE_MICROS + 1) * MINUTE_MICROS
        return Question(kind, symbol, start, start + DAY_MICROS)
    start = DAY0 + rng.randrange((SPAN_US - 300 * SECOND) // SECOND + 1) * SECOND
    return Question(kind, symbol, start, start + 300 * SECOND)


def questions(client: int, seed: int) -> Iterator[Question]:
    """Client ``client``'s endless mix: the four kinds in turn, starting at kind client % 4."""
    rng = random.Random(seed * 1000 + client)
    index = client
    while True:
        yield draw(KINDS[index % len(KINDS)], rng)
        index += 1


def iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / SECOND, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the API -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiTarget:
    base_url: str
    api_key: str
    as_of: str


def http_request(question: Question, as_of: str) -> tuple[str, str, dict[str, Any], Any]:
    """(method, path, query, JSON body) of ``question`` against the API."""
    window = {"start_time": iso(question.start_us), "end_time": iso(question.end_us)}
    if question.kind == OHLCV:
        return "GET", "/v1/ohlcv/1h", {"symbol": question.symbol, **window, "limit": 24}, None
    if question.kind == VWAP:
        body = {"symbols": [question.symbol], "metrics": ["vwap"], **window}
        return "POST", "/v1/aggregations", {}, body
    query: dict[str, Any] = {"symbol": question.symbol, **window, "limit": MAX_ROWS_PER_REQUEST}
    if question.kind == TIME_TRAVEL:
        query["as_of"] = as_of
    return "GET", "/v1/trades", query, None


class ApiClient:
    """One client thread's connection (a keep-alive session) to the gateway."""

    def __init__(self, target: ApiTarget) -> None:
        self.target = target
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = target.api_key

    def send(self, question: Question) -> requests.Response:
        method, path, query, body = http_request(question, self.target.as_of)
        return self.session.request(
            method, self.target.base_url + path, params=query, json=body, timeout=HTTP_TIMEOUT_S
        )

    def ask(self, question: Question) -> str | None:
        """None on a 200 (body read whole), else what went wrong."""
        response = self.send(question)
        _ = response.content
        return None if response.status_code == 200 else f"HTTP {response.status_code}"

    def close(self) -> None:
        self.session.close()


# --- the DuckDB baseline -----------------------------------------------------------------------


def _columns(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _order(names: Sequence[str]) -> str:
    return ", ".join(f'"{name}" DESC' for name in names)


_BARS = BARS[Timeframe.ONE_HOUR]
_WINDOW = '"timestamp" >= $start AND "timestamp" < $end'
_ROWS_SQL = "SELECT {columns} FROM {view} WHERE symbol = $symbol AND {window} ORDER BY {order} "
BASELINE_SQL = {
    OHLCV: _ROWS_SQL.format(
        columns=_columns(_BARS.fields),
        view="bars_1h",
        window="window_start >= $start AND window_start < $end",
        order=_order(_BARS.order_key),
    )
    + "LIMIT 25",
    TRADES_5M: _ROWS_SQL.format(
        columns=_columns(TRADES.fields),
        view="trades_now",
        window=_WINDOW,
        order=_order(TRADES.order_key),
    )
    + f"LIMIT {MAX_ROWS_PER_REQUEST + 1}",
    TIME_TRAVEL: _ROWS_SQL.format(
        columns=_columns(TRADES.fields),
        view="trades_then",
        window=_WINDOW,
        order=_order(TRADES.order_key),
    )
    + f"LIMIT {MAX_ROWS_PER_REQUEST + 1}",
    # 8-place prices and quantities (the bench data's): the decimal(38,8) product is exact.
    VWAP: "SELECT exchange, symbol, sum(price::DECIMAL(38, 8) * quantity::DECIMAL(38, 8)), "
    "sum(quantity), count(*) FROM trades_now "
    'WHERE symbol = $symbol AND "timestamp" >= $start AND "timestamp" < $end '
    "GROUP BY exchange, symbol ORDER BY exchange, symbol",
}
"""Only constants and allow-listed column names are formatted in; values are parameters."""


def _file_list(paths: Sequence[Path]) -> str:
    return "[" + ", ".join("'" + str(path).replace("'", "''") + "'" for path in paths) + "]"


def baseline_database(
    trades_now: Sequence[Path], trades_then: Sequence[Path], bars_1h: Sequence[Path]
) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with one view per question's data: the snapshot's data files, as
    pyiceberg planned them, read with read_parquet (filters pushed down, footers cached)."""
    connection = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "threads": 2,
        }
    )
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("SET parquet_metadata_cache = true")
    views = (("trades_now", trades_now), ("trades_then", trades_then), ("bars_1h", bars_1h))
    for view, files in views:
        statement = f"CREATE VIEW {view} AS SELECT * FROM read_parquet({_file_list(files)})"  # noqa: S608
        connection.execute(statement)
    return connection


def baseline_answer(cursor: duckdb.DuckDBPyConnection, question: Question) -> list[Any]:
    """The rows DuckDB answers ``question`` with; for VWAP (exchange, symbol, vwap, count),
    the exact quotient of DuckDB's exact sums rounded as the API rounds it."""
    parameters = {
        "symbol": question.symbol,
        "start": datetime.fromtimestamp(question.start_us / SECOND, UTC),
        "end": datetime.fromtimestamp(question.end_us / SECOND, UTC),
    }
    rows = cursor.execute(BASELINE_SQL[question.kind], parameters).fetchall()
    if question.kind != VWAP:
        return rows
    return [(e, s, exact_vwap(Decimal(n), Decimal(v)), count) for e, s, n, v, count in rows]


class DuckDbClient:
    """One client thread's cursor on the shared baseline database."""

    def __init__(self, connection: duckdb.DuckDBPyConnection) -> None:
        self.cursor = connection.cursor()

    def ask(self, question: Question) -> str | None:
        baseline_answer(self.cursor, question)
        return None

    def close(self) -> None:
        self.cursor.close()


# --- running the load --------------------------------------------------------------------------


@dataclass
class LoadResult:
    wall_s: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    """Seconds per question, by kind, failed ones included (what the client waited)."""
    succeeded: dict[str, list[float]] = field(default_factory=dict)
    """Seconds per question answered with a 200, by kind."""
    failures: dict[str, Counter[str]] = field(default_factory=dict)

    @property
    def asked(self) -> int:
        return sum(len(values) for values in self.latencies.values())

    @property
    def answered(self) -> int:
        """Questions answered with a 200."""
        return sum(len(values) for values in self.succeeded.values())

    @property
    def rate(self) -> float:
        """Answers (200s) per second."""
        return self.answered / self.wall_s if self.wall_s > 0 else 0.0


def run_load(
    clients: Sequence[ApiClient | DuckDbClient], duration_s: float, seed: int
) -> LoadResult:
    """Each client asks its mix back to back until ``duration_s`` has passed (the question in
    flight then is finished and counted); the rate is 200s over the wall time to the last."""
    latencies: dict[str, list[float]] = {kind: [] for kind in KINDS}
    succeeded: dict[str, list[float]] = {kind: [] for kind in KINDS}
    failures: dict[str, Counter[str]] = {kind: Counter() for kind in KINDS}
    lock = threading.Lock()
    gate = threading.Barrier(len(clients) + 1)
    finished: list[float] = []

    def work(index: int, client: ApiClient | DuckDbClient) -> None:
        mix = questions(index, seed)
        gate.wait()
        deadline = time.perf_counter() + duration_s
        while time.perf_counter() < deadline:
            question = next(mix)
            started = time.perf_counter()
            try:
                problem = client.ask(question)
            except Exception as error:  # a failed request is counted, not fatal
                problem = type(error).__name__
            elapsed = time.perf_counter() - started
            with lock:
                latencies[question.kind].append(elapsed)
                if problem is None:
                    succeeded[question.kind].append(elapsed)
                else:
                    failures[question.kind][problem] += 1
        client.close()
        with lock:
            finished.append(time.perf_counter())

    threads = [
        threading.Thread(target=work, args=(i, c), daemon=True) for i, c in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    gate.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return LoadResult(max(finished) - began, latencies, succeeded, failures)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
