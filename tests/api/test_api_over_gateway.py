"""The API over real HTTP through a local API Gateway process, against the handler in process.

Every endpoint asked over a socket must answer what the Lambda handler answers to the canonical
proxy event for the same request: the gateway's event (query strings with commas and repeats,
JSON bodies, percent-encoded paths) and its reading of the handler's answer (base64 Parquet,
headers) are faithful. Then what only the gateway does (keys, usage plans, the 10 MB limit) and
what the app does behind it (its 1 MB limit, CORS, correlation ids), and hostile strings in every
parameter of every endpoint: refused or empty, never a 5xx, and the lake untouched.
"""

from __future__ import annotations

import io
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow.parquet as pq
import pytest

from k2.domain.ohlcv import DAY_MICROS, HOUR_MICROS, Timeframe
from tests.api.api_calls import Answer, invoke
from tests.api.api_testkit import KEYS, ApiLake, utc
from tests.api.gateway_testkit import TIGHT_BURST, Gateway

pytestmark = pytest.mark.integration

TABLES = (
    "gold_crypto_trades",
    "gold_crypto_quotes",
    *(f"gold_ohlcv_{timeframe.value}" for timeframe in Timeframe),
)
DOWNLOAD_NAME = re.compile(r'attachment; filename="[a-z_]+_\d{8}T\d{6}Z\.(csv|parquet)"')
PASSED_THROUGH = ("content-type", "cache-control", "x-record-count", "x-has-more", "x-snapshot-id")


def iso(micros: int) -> str:
    return utc(micros).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Call:
    """One request, asked the same way of the gateway (HTTP) and of the handler (an event)."""

    method: str
    path: str
    query: dict[str, Any] = field(default_factory=dict)
    """Name to value, or to a list of values (the name then repeats)."""
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def over_http(self, gateway: Gateway, api_key: str | None = KEYS[0]) -> Answer:
        return gateway.request(
            self.method, self.path, self.query, self.body, self.headers, api_key=api_key
        )

    def in_process(self, handler: ModuleType, api_key: str | None = KEYS[0]) -> Answer:
        return invoke(handler, self.method, self.path, self.query, self.body, self.headers, api_key)


def _window(lake: ApiLake, start_hours: int, end_hours: int) -> dict[str, str]:
    return {
        "start_time": iso(lake.day0 + start_hours * HOUR_MICROS),
        "end_time": iso(lake.day0 + end_hours * HOUR_MICROS),
    }


def _trades_body(lake: ApiLake) -> dict[str, Any]:
    return {
        "symbols": ["btcusdt", "EthUsdt"],
        **_window(lake, 0, 24),
        "fields": ["symbol", "trade_id", "timestamp", "price", "quantity", "side"],
        "min_price": "3000",
        "max_price": "8000.5",
        "order": "asc",
        "limit": 10_000,
    }


def _ohlcv(timeframe: Timeframe) -> Callable[[ApiLake], Call]:
    def build(lake: ApiLake) -> Call:
        query: dict[str, str | list[str]] = {
            "symbol": "BTCUSDT,btcusd",
            **_window(lake, 0, 44),
            "limit": "300",
        }
        if timeframe is Timeframe.ONE_HOUR:
            query["fields"] = "window_start,symbol,open,close,volume"
            query["order"] = "asc"
        return Call("GET", f"/v1/ohlcv/{timeframe.value}", query)

    return build


def _snapshot_query(lake: ApiLake) -> Call:
    snapshot = lake.current_snapshot_id("gold_crypto_trades")
    body = {"symbols": ["ETHUSDT"], **_window(lake, 2, 9), "limit": 400, "order": "asc"}
    return Call("POST", f"/v1/snapshots/{snapshot}/query", body=body)


ENDPOINTS: dict[str, Callable[[ApiLake], Call]] = {
    "trades-get-commas": lambda lake: Call(
        "GET",
        "/v1/trades",
        {
            "symbol": "BTCUSDT, ethusdt",
            "exchange": "BINANCE",
            **_window(lake, 6, 30),
            "fields": "timestamp,trade_id,price,quantity,side",
            "limit": "300",
            "order": "asc",
        },
    ),
    "trades-get-repeated-params": lambda lake: Call(
        "GET",
        "/v1/trades",
        {"symbol": ["ETHUSDT", "btcusd"], "limit": ["7", "40"], **_window(lake, 3, 20)},
    ),
    "trades-post-json": lambda lake: Call("POST", "/v1/trades/query", body=_trades_body(lake)),
    "trades-post-csv": lambda lake: Call(
        "POST", "/v1/trades/query", body={**_trades_body(lake), "format": "csv"}
    ),
    "trades-post-parquet": lambda lake: Call(
        "POST", "/v1/trades/query", body={**_trades_body(lake), "format": "parquet"}
    ),
    "quotes-get": lambda lake: Call(
        "GET",
        "/v1/quotes",
        {
            "symbol": "btcusd,ETHUSDT",
            **_window(lake, 3, 40),
            "fields": "message_id,symbol,bid_price,ask_price,ingestion_timestamp",
        },
    ),
    "quotes-post": lambda lake: Call(
        "POST",
        "/v1/quotes/query",
        body={"exchanges": ["KRAKEN", "binance"], **_window(lake, 0, 47), "order": "asc"},
    ),
    "quotes-post-parquet": lambda lake: Call(
        "POST",
        "/v1/quotes/query",
        body={"symbols": ["BTCUSD"], **_window(lake, 0, 47), "format": "parquet"},
    ),
    **{f"ohlcv-{t.value}": _ohlcv(t) for t in Timeframe},
    "ohlcv-batch": lambda lake: Call(
        "POST",
        "/v1/ohlcv/batch",
        body=[
            {"symbol": "btcusdt", "timeframe": "1m", **_window(lake, 2, 3), "limit": 60},
            {"symbol": "BTCUSD", "timeframe": "1h", "exchange": "Kraken", **_window(lake, 0, 40)},
            {"symbol": "BTC/USD;--", "timeframe": "5m"},
        ],
    ),
    "summary": lambda lake: Call("GET", f"/v1/summary/btcusdt/{utc(lake.day0).date()}"),
    "summary-exchange": lambda lake: Call(
        "GET",
        f"/v1/summary/BTCUSD/{utc(lake.day0 + DAY_MICROS).date()}",
        {"exchange": "kraken"},
    ),
    "symbols": lambda lake: Call("GET", "/v1/symbols"),
    "symbols-filtered": lambda lake: Call(
        "GET", "/v1/symbols", {"exchange": "KRAKEN,binance", "data_type": "quotes"}
    ),
    "stats": lambda lake: Call("GET", "/v1/stats"),
    "snapshots": lambda lake: Call("GET", "/v1/snapshots", {"table": "trades", "limit": "5"}),
    "snapshots-ohlcv": lambda lake: Call("GET", "/v1/snapshots", {"table": "ohlcv_1h"}),
    "snapshot-query": _snapshot_query,
    "aggregations": lambda lake: Call(
        "POST",
        "/v1/aggregations",
        body={
            "symbols": ["ethusdt", "BTCUSD"],
            "metrics": ["vwap", "twap", "ohlcv", "volume_profile"],
            "interval": "2h",
            "price_step": "1000",
            **_window(lake, 4, 28),
        },
    ),
    "openapi": lambda lake: Call("GET", "/openapi.json"),
    "docs": lambda lake: Call("GET", "/docs"),
    "unknown-timeframe": lambda lake: Call("GET", "/v1/ohlcv/7m", {"symbol": "BTCUSDT"}),
    "bad-body": lambda lake: Call("POST", "/v1/trades/query", body={"limit": 0, "extra": 1}),
    "not-json": lambda lake: Call("POST", "/v1/replay", body="{not json"),
}
ERROR_CASES = frozenset({"unknown-timeframe", "bad-body", "not-json"})


def _without_timestamp(body: Any) -> Any:
    if isinstance(body, dict) and isinstance(body.get("meta"), dict):
        return {**body, "meta": {k: v for k, v in body["meta"].items() if k != "timestamp"}}
    return body


def assert_same_answer(over_http: Answer, in_process: Answer) -> None:
    """Status, body (but the moment it was made) and the headers the API sets."""
    assert over_http.status == in_process.status, over_http.raw[:500]
    assert over_http.headers["x-amzn-requestid"]  # the gateway's own header: it really answered
    for name in PASSED_THROUGH:
        assert over_http.headers.get(name) == in_process.headers.get(name), name
    disposition = over_http.headers.get("content-disposition")
    if disposition is None:
        assert "content-disposition" not in in_process.headers
    else:  # the file name carries the second it was made
        assert DOWNLOAD_NAME.fullmatch(disposition), disposition
        assert DOWNLOAD_NAME.fullmatch(in_process.headers["content-disposition"])
    if over_http.headers["content-type"].startswith("application/json"):
        assert _without_timestamp(over_http.body) == _without_timestamp(in_process.body)
    else:
        assert over_http.raw == in_process.raw


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_each_endpoint_over_http_answers_what_the_handler_answers(
    name: str, api_gateway: Gateway, api_handler: ModuleType, api_lake: ApiLake
) -> None:
    correlation_id = f"gw-{name}-{uuid.uuid4().hex[:8]}"
    call = ENDPOINTS[name](api_lake)
    call = replace(call, headers={**call.headers, "X-Correlation-ID": correlation_id})
    over_http = call.over_http(api_gateway)
    in_process = call.in_process(api_handler)

    assert over_http.status == (422 if name in ERROR_CASES else 200), over_http.raw[:500]
    assert_same_answer(over_http, in_process)
    assert over_http.headers["x-correlation-id"] == correlation_id
    content_type = over_http.headers["content-type"]
    if name in ERROR_CASES:
        assert over_http.body["success"] is False
        assert over_http.body["meta"]["correlation_id"] == correlation_id
    elif content_type.startswith("application/json") and call.path.startswith("/v1"):
        assert over_http.body["meta"]["correlation_id"] == correlation_id
        assert over_http.body["data"], "a comparison of empty answers proves little"
    elif content_type.startswith("application/vnd.apache.parquet"):
        table = pq.read_table(io.BytesIO(over_http.raw))
        assert table.num_rows == int(over_http.headers["x-record-count"]) > 0
        assert str(table.schema.field("bid_price" if "quotes" in name else "price").type) == (
            "decimal128(38, 18)"
        )
    elif content_type.startswith("text/csv"):
        lines = over_http.raw.decode().splitlines()
        assert len(lines) - 1 == int(over_http.headers["x-record-count"]) > 0
    elif name == "docs":
        assert content_type.startswith("text/html") and b"swagger-ui" in over_http.raw
    else:
        assert name == "openapi" and over_http.body["paths"]["/v1/replay"]


def test_health_and_ohlcv_health_over_http_match_the_handler(
    api_gateway: Gateway, api_handler: ModuleType
) -> None:
    """Both read the wall clock (a latency, bar ages), so their stable parts are compared."""
    health = Call("GET", "/health")
    over_http, in_process = (
        health.over_http(api_gateway, api_key=None),
        health.in_process(api_handler, api_key=None),
    )
    assert over_http.status == in_process.status == 200
    for answer in (over_http, in_process):
        data = answer.body["data"]
        assert data["status"] == "healthy" and re.fullmatch(
            r"ok in [0-9.]+ ms", data["checks"]["catalog"]
        )
    assert over_http.body["data"]["version"] == in_process.body["data"]["version"]

    freshness = Call("GET", "/v1/ohlcv/health")
    over_http, in_process = freshness.over_http(api_gateway), freshness.in_process(api_handler)
    assert over_http.status == in_process.status == 200
    http_data, local_data = over_http.body["data"], in_process.body["data"]
    assert [t["timeframe"] for t in http_data["timeframes"]] == [t.value for t in Timeframe]
    for from_http, from_handler in zip(
        http_data["timeframes"], local_data["timeframes"], strict=True
    ):
        stable = ("timeframe", "last_window_start", "threshold_minutes")
        assert {k: from_http[k] for k in stable} == {k: from_handler[k] for k in stable}
        assert from_http["last_window_start"] is not None
        assert abs(from_http["age_minutes"] - from_handler["age_minutes"]) < 2
        newest = datetime.fromisoformat(from_http["last_window_start"])
        served = datetime.fromisoformat(over_http.body["meta"]["timestamp"])
        expected_age = (served - newest) / timedelta(minutes=1)
        assert abs(from_http["age_minutes"] - expected_age) < 0.1
        assert from_http["status"] == (
            "healthy" if from_http["age_minutes"] <= from_http["threshold_minutes"] else "stale"
        )
    statuses = {t["status"] for t in http_data["timeframes"]}
    assert http_data["overall_status"] == ("healthy" if statuses == {"healthy"} else "degraded")


def test_replay_over_http_pages_exactly_as_the_handler_pages(
    api_gateway: Gateway, api_handler: ModuleType, api_lake: ApiLake
) -> None:
    request: dict[str, Any] = {
        "symbols": ["BTCUSDT", "btcusd"],
        **_window(api_lake, 1, 20),
        "fields": ["timestamp", "exchange", "symbol", "trade_id", "price"],
        "limit": 211,
    }
    http_pages: list[Answer] = []
    cursor: str | None = None
    while True:
        body = request if cursor is None else {**request, "cursor": cursor}
        page_id = {"X-Correlation-ID": f"replay-page-{len(http_pages)}"}
        call = Call("POST", "/v1/replay", body=body, headers=page_id)
        over_http, in_process = call.over_http(api_gateway), call.in_process(api_handler)
        assert over_http.status == 200, over_http.raw[:500]
        assert_same_answer(over_http, in_process)  # the same cursor, signed the same way
        http_pages.append(over_http)
        cursor = over_http.body["pagination"]["next_cursor"]
        if cursor is None:
            break
        assert len(http_pages) < 50, "replay does not end"
    rows = [row for page in http_pages for row in page.body["data"]]
    assert len(http_pages) > 2
    assert [page.body["pagination"]["has_more"] for page in http_pages[:-1]] == [True] * (
        len(http_pages) - 1
    )
    keys = [(row["timestamp"], row["exchange"], row["symbol"], row["trade_id"]) for row in rows]
    assert len(set(keys)) == len(keys)
    # The concatenation is the whole window in order, as one big read gives it.
    everything = Call(
        "POST",
        "/v1/trades/query",
        body={
            **{k: v for k, v in request.items() if k != "limit"},
            "order": "asc",
            "limit": 100_000,
        },
    ).over_http(api_gateway)
    assert everything.body["data"] == rows


# --- what the gateway and the app refuse, over HTTP ------------------------------------------

FORBIDDEN_CODE = "forbidden"


@pytest.mark.parametrize(
    ("headers", "query", "api_key"),
    [
        ({}, {}, None),
        ({}, {}, "not-a-key-" + "x" * 30),
        ({}, {}, KEYS[0].upper()),
        ({"Authorization": f"Bearer {KEYS[0]}"}, {}, None),
        ({"Authorization": KEYS[0]}, {}, None),
        ({}, {"api_key": KEYS[0]}, None),
        ({"X-Api-Key-Id": "apitestgen1"}, {}, None),
    ],
    ids=[
        "no-key",
        "wrong-key",
        "wrong-case-key",
        "bearer",
        "authorization",
        "query-param",
        "key-id-not-key",
    ],
)
def test_requests_without_a_valid_key_header_are_forbidden_by_the_gateway(
    api_gateway: Gateway, headers: dict[str, str], query: dict[str, str], api_key: str | None
) -> None:
    answer = api_gateway.request("GET", "/v1/trades", query, headers=headers, api_key=api_key)
    assert answer.status == 403
    assert answer.body["success"] is False and answer.code == FORBIDDEN_CODE
    assert "x-correlation-id" not in answer.headers  # refused before the function ran


def test_health_docs_and_schema_need_no_key(api_gateway: Gateway) -> None:
    for path in ("/health", "/docs", "/openapi.json"):
        answer = api_gateway.request("GET", path, api_key=None)
        assert answer.status == 200, (path, answer.raw[:300])
    assert api_gateway.request("POST", "/health", api_key=None).status == 403


def test_the_tight_plan_is_throttled_after_its_burst_while_the_generous_one_is_not(
    api_gateway: Gateway,
) -> None:
    cheap = Call("GET", "/v1/ohlcv/7m", {"symbol": "BTCUSDT"})  # the app refuses it quickly
    admitted: list[int] = []
    throttled: Answer | None = None
    started = time.monotonic()
    for _ in range(20):
        answer = cheap.over_http(api_gateway, api_key=api_gateway.tight_key)
        if answer.status == 429:
            throttled = answer
            break
        assert answer.status == 422, answer.raw[:300]
        admitted.append(answer.status)
    elapsed = time.monotonic() - started
    generous = Call("GET", "/v1/snapshots", {"limit": "1"}).over_http(api_gateway)

    assert throttled is not None, f"{len(admitted)} requests in {elapsed:.1f}s, none throttled"
    # A bucket of three refilled at one per second: at least the burst, and no more than the
    # burst plus what the elapsed time refilled.
    assert TIGHT_BURST <= len(admitted) <= TIGHT_BURST + int(elapsed) + 1
    assert throttled.code == "throttled"
    retry_after = throttled.headers["retry-after"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    assert generous.status == 200, generous.raw[:300]

    time.sleep(int(retry_after) + 0.1)
    assert cheap.over_http(api_gateway, api_key=api_gateway.tight_key).status == 422


def test_a_body_declared_over_10_mb_is_refused_by_the_gateway(api_gateway: Gateway) -> None:
    answer = api_gateway.request_declaring("POST", "/v1/trades/query", 10 * 1024 * 1024 + 1)
    assert answer.status == 413
    assert answer.code == "request_too_large"
    assert "x-correlation-id" not in answer.headers


def test_a_body_over_the_apps_1_mb_limit_is_refused_by_the_app(api_gateway: Gateway) -> None:
    padding = "x" * (2 * 1024 * 1024)
    body = f'{{"symbols": ["BTCUSDT"], "padding": "{padding}"}}'
    answer = api_gateway.request("POST", "/v1/trades/query", body=body)
    assert answer.status == 413
    assert answer.code == "payload_too_large"
    assert answer.headers["x-correlation-id"]  # the app's answer, through the gateway


def test_cors_preflight_echoes_an_allowed_origin_only(api_gateway: Gateway) -> None:
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-api-key",
    }
    allowed = api_gateway.request(
        "OPTIONS",
        "/v1/trades",
        headers={"Origin": "http://localhost:3000", **preflight},
        api_key=None,
    )
    assert allowed.status == 200, allowed.raw[:300]
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "GET" in allowed.headers["access-control-allow-methods"]
    assert "x-api-key" in allowed.headers["access-control-allow-headers"].lower()

    refused = api_gateway.request(
        "OPTIONS",
        "/v1/trades",
        headers={"Origin": "http://evil.example", **preflight},
        api_key=None,
    )
    assert refused.status == 400
    assert "access-control-allow-origin" not in refused.headers

    simple = api_gateway.request("GET", "/v1/symbols", headers={"Origin": "http://evil.example"})
    assert simple.status == 200 and "access-control-allow-origin" not in simple.headers
    from_app = api_gateway.request(
        "GET", "/v1/symbols", headers={"Origin": "http://127.0.0.1:8080"}
    )
    assert from_app.headers["access-control-allow-origin"] == "http://127.0.0.1:8080"
    assert "X-Record-Count" in from_app.headers["access-control-expose-headers"]


def test_correlation_ids_round_trip_and_default_to_the_gateways_request_id(
    api_gateway: Gateway,
) -> None:
    sent = f"client-{uuid.uuid4().hex}"
    echoed = api_gateway.request("GET", "/v1/stats", headers={"X-Correlation-ID": sent})
    assert echoed.headers["x-correlation-id"] == sent
    assert echoed.body["meta"]["correlation_id"] == sent

    assigned = api_gateway.request("GET", "/v1/stats")
    request_id = assigned.headers["x-amzn-requestid"]
    assert assigned.headers["x-correlation-id"] == request_id
    assert assigned.body["meta"]["correlation_id"] == request_id

    unsafe = api_gateway.request("GET", "/v1/stats", headers={"X-Correlation-ID": "a b<script>"})
    assert unsafe.headers["x-correlation-id"] == unsafe.headers["x-amzn-requestid"]


# --- hostile strings in every parameter --------------------------------------------------------

_PROBE_FILE = Path(tempfile.gettempdir()) / f"k2-sqli-probe-{uuid.uuid4().hex}"
HOSTILE = (
    "' OR '1'='1",
    "BTCUSDT'; DROP TABLE gold_crypto_trades; --",
    '" UNION SELECT * FROM duckdb_settings() --',
    "read_csv('/etc/passwd')",
    "1; COPY (SELECT 1) TO '/tmp/x'",
    f"1'); COPY (SELECT 1) TO '{_PROBE_FILE}'; --",
    "$(id)",
    "A" * 5000,
    "BTC\x00USDT",
    "\uff22\uff34\uff23",  # full-width BTC
    "%",
    "1 OR 1=1",
    "'; ATTACH ':memory:' AS pwn; --",
    "\\'; SELECT 1; --",
)
PER_PARAMETER = 4
"""Hostile strings sent per parameter, rotated so every string reaches every endpoint."""


@dataclass(frozen=True)
class Slot:
    """One parameter of one endpoint: a request that finds data, and the same request with a
    hostile value in that parameter's place."""

    name: str
    base: Call
    build: Callable[[str], Call]


def _query_slots(path: str, base: dict[str, str], names: tuple[str, ...]) -> list[Slot]:
    def build(name: str) -> Callable[[str], Call]:
        return lambda value: Call("GET", path, {**base, name: value})

    return [Slot(f"GET {path} ?{name}", Call("GET", path, base), build(name)) for name in names]


def _batch_slots(item: dict[str, str], names: tuple[str, ...]) -> list[Slot]:
    def build(name: str) -> Callable[[str], Call]:
        return lambda value: Call("POST", "/v1/ohlcv/batch", body=[{**item, name: value}])

    base = Call("POST", "/v1/ohlcv/batch", body=[item])
    return [Slot(f"POST /v1/ohlcv/batch {name}", base, build(name)) for name in names]


def _body_slots(path: str, base: dict[str, Any], names: tuple[str, ...]) -> list[Slot]:
    def build(name: str) -> Callable[[str], Call]:
        listed = name in {"symbols", "exchanges", "fields", "metrics"}
        return lambda value: Call("POST", path, body={**base, name: [value] if listed else value})

    return [
        Slot(f"POST {path} {name}", Call("POST", path, body=base), build(name)) for name in names
    ]


def hostile_slots(lake: ApiLake) -> list[Slot]:
    window = _window(lake, 0, 30)
    day = str(utc(lake.day0).date())
    snapshot = lake.current_snapshot_id("gold_crypto_trades")
    in_query = ("symbol", "exchange", "start_time", "end_time", "fields", "limit", "order", "as_of")
    in_body = ("symbols", "exchanges", "start_time", "end_time", "fields", "order", "format")
    bars = Call("GET", "/v1/ohlcv/1h", {"symbol": "BTCUSDT"})
    summary = Call("GET", f"/v1/summary/BTCUSDT/{day}")
    return [
        *_query_slots("/v1/trades", {"symbol": "BTCUSDT", **window}, in_query),
        *_query_slots("/v1/quotes", {"symbol": "BTCUSD", **window}, in_query),
        *_query_slots("/v1/ohlcv/1h", {"symbol": "BTCUSDT", **window}, in_query),
        Slot("GET /v1/ohlcv/{timeframe}", bars, lambda v: replace(bars, path=f"/v1/ohlcv/{v}")),
        Slot("GET /v1/summary/{symbol}", summary, lambda v: Call("GET", f"/v1/summary/{v}/{day}")),
        Slot("GET /v1/summary/{day}", summary, lambda v: Call("GET", f"/v1/summary/BTCUSDT/{v}")),
        *_query_slots(f"/v1/summary/BTCUSDT/{day}", {}, ("exchange",)),
        *_query_slots(
            "/v1/symbols", {}, ("exchange", "data_type", "start_time", "end_time", "as_of")
        ),
        *_query_slots("/v1/snapshots", {}, ("table", "limit")),
        *_body_slots(
            "/v1/trades/query",
            {"symbols": ["BTCUSDT"], **window},
            (*in_body, "as_of", "limit", "min_price", "max_quantity"),
        ),
        *_body_slots("/v1/quotes/query", {"symbols": ["BTCUSD"], **window}, (*in_body, "as_of")),
        Slot(
            "POST /v1/snapshots/{snapshot_id}/query",
            Call("POST", f"/v1/snapshots/{snapshot}/query", body=window),
            lambda v: Call("POST", f"/v1/snapshots/{v}/query", body=window),
        ),
        *_body_slots(
            f"/v1/snapshots/{snapshot}/query",
            {"symbols": ["BTCUSDT"], **window},
            (*in_body, "data_type"),
        ),
        *_batch_slots(
            {"symbol": "BTCUSDT", "timeframe": "1h", **window},
            ("symbol", "timeframe", "exchange", "start_time", "end_time", "limit"),
        ),
        *_body_slots(
            "/v1/replay",
            {"symbols": ["BTCUSDT"], **window},
            ("cursor", "symbols", "exchanges", "fields", "data_type", "start_time", "as_of"),
        ),
        *_body_slots(
            "/v1/aggregations",
            {"symbols": ["BTCUSDT"], "metrics": ["vwap", "ohlcv"], "interval": "1h", **window},
            ("symbols", "exchanges", "metrics", "interval", "price_step", "end_time", "as_of"),
        ),
    ]


def _empty(answer: Answer) -> bool:
    """A 2xx that matched nothing: no rows, or only failed or empty items."""
    if not answer.headers.get("content-type", "").startswith("application/json"):
        return answer.headers.get("x-record-count") == "0"
    data = answer.body["data"]
    return isinstance(data, list) and all(
        isinstance(item, dict)
        and (item.get("success") is False or item.get("data") == [] or item.get("trade_count") == 0)
        for item in data
    )


def assert_refused_or_empty(answer: Answer, what: str) -> None:
    assert answer.status < 500, f"{what}: {answer.status} {answer.raw[:300]!r}"
    assert b"root:x:0:0" not in answer.raw, what
    if 200 <= answer.status < 300:
        assert _empty(answer), f"{what}: a hostile value matched rows: {answer.raw[:300]!r}"
        return
    assert 400 <= answer.status < 500, f"{what}: {answer.status}"
    body = answer.body
    assert body["success"] is False, what
    assert isinstance(body["error"]["code"], str) and body["error"]["code"], what
    assert isinstance(body["error"]["message"], str), what


def _lake_state(lake: ApiLake) -> dict[str, int]:
    state = {table: lake.current_snapshot_id(table) for table in TABLES}
    state["trade_rows"] = lake.snapshot_rows("gold_crypto_trades").num_rows
    return state


def test_hostile_strings_in_every_parameter_are_refused_or_match_nothing(
    api_gateway: Gateway, api_handler: ModuleType, api_lake: ApiLake
) -> None:
    tmp_x_existed = Path("/tmp/x").exists()
    before = _lake_state(api_lake)
    slots = hostile_slots(api_lake)
    bases = {
        (s.base.method, s.base.path, repr(s.base.query), repr(s.base.body)): s.base for s in slots
    }
    for base in bases.values():  # without the hostile value, each request finds data
        answer = base.in_process(api_handler)
        assert answer.status == 200 and not _empty(answer), (base, answer.raw[:300])

    sent = 0
    for index, slot in enumerate(slots):
        for step in range(PER_PARAMETER):
            value = HOSTILE[(index * 3 + step) % len(HOSTILE)]
            call = slot.build(value)
            what = f"{slot.name} = {value[:60]!r}"
            assert_refused_or_empty(call.in_process(api_handler), what)
            sent += 1
            if (index + step) % 7 == 0:  # a sample over HTTP: never a 502 from the gateway
                assert_refused_or_empty(call.over_http(api_gateway), f"HTTP {what}")
                sent += 1
    assert 250 <= sent <= 500, sent

    assert _lake_state(api_lake) == before
    assert not _PROBE_FILE.exists()
    assert Path("/tmp/x").exists() == tmp_x_existed
