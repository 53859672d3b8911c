"""Every refusal through the real Lambda handler: the right status, a stable code, the error
envelope, and never a 500."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from tests.api.api_calls import invoke
from tests.api.api_testkit import KEYS, ApiLake

pytestmark = pytest.mark.integration

DAY = {"start_time": "2026-11-20T00:00:00Z", "end_time": "2026-11-21T00:00:00Z"}

# (method, path, query, body, extra headers, api key, status, code)
REFUSALS: list[
    tuple[str, str, dict[str, Any] | None, Any, dict[str, str], str | None, int, str]
] = [
    ("GET", "/v1/trades", None, None, {}, None, 401, "missing_api_key"),
    ("GET", "/v1/trades", None, None, {}, "not-a-key-" + "x" * 20, 403, "invalid_api_key"),
    (
        "GET",
        "/v1/trades",
        None,
        None,
        {"Authorization": f"Bearer {KEYS[0]}"},
        None,
        401,
        "missing_api_key",
    ),
    ("GET", "/v1/trades", {"api_key": KEYS[0]}, None, {}, None, 401, "missing_api_key"),
    (
        "GET",
        "/v1/trades",
        {"start_time": "2026-11-20T00:00:00"},
        None,
        {},
        KEYS[1],
        400,
        "timestamp_without_zone",
    ),
    ("GET", "/v1/trades", {"end_time": "yesterday"}, None, {}, KEYS[0], 400, "invalid_timestamp"),
    (
        "GET",
        "/v1/trades",
        {"start_time": DAY["end_time"], "end_time": DAY["start_time"]},
        None,
        {},
        KEYS[0],
        400,
        "invalid_time_range",
    ),
    (
        "GET",
        "/v1/trades",
        {"start_time": "2026-01-01T00:00:00Z", "end_time": "2026-03-01T00:00:00Z"},
        None,
        {},
        KEYS[0],
        400,
        "time_range_too_large",
    ),
    ("GET", "/v1/trades", {"limit": "0"}, None, {}, KEYS[0], 422, "validation_error"),
    ("GET", "/v1/trades", {"limit": "100001"}, None, {}, KEYS[0], 422, "validation_error"),
    ("GET", "/v1/trades", {"fields": "price,password"}, None, {}, KEYS[0], 400, "unknown_field"),
    ("GET", "/v1/trades", {"symbol": "BTC;DROP"}, None, {}, KEYS[0], 400, "invalid_symbol"),
    ("GET", "/v1/quotes", {"exchange": "nyse"}, None, {}, KEYS[0], 400, "invalid_exchange"),
    ("GET", "/v1/ohlcv/2m", {"symbol": "BTCUSDT"}, None, {}, KEYS[0], 422, "validation_error"),
    ("GET", "/v1/ohlcv/1h", None, None, {}, KEYS[0], 422, "validation_error"),
    ("GET", "/v1/snapshots", {"table": "users"}, None, {}, KEYS[0], 422, "validation_error"),
    ("POST", "/v1/replay", None, {**DAY, "cursor": "garbage"}, {}, KEYS[0], 400, "invalid_cursor"),
    (
        "POST",
        "/v1/replay",
        None,
        {"start_time": DAY["start_time"]},
        {},
        KEYS[0],
        422,
        "validation_error",
    ),
    ("POST", "/v1/snapshots/987654321/query", None, {}, {}, KEYS[0], 404, "snapshot_not_found"),
    (
        "GET",
        "/v1/trades",
        {"as_of": "2001-01-01T00:00:00Z"},
        None,
        {},
        KEYS[0],
        404,
        "as_of_before_first_snapshot",
    ),
    (
        "POST",
        "/v1/aggregations",
        None,
        {**DAY, "symbols": ["BTCUSDT"], "metrics": ["ohlcv"]},
        {},
        KEYS[0],
        400,
        "invalid_parameter",
    ),
    (
        "POST",
        "/v1/aggregations",
        None,
        {**DAY, "symbols": ["BTCUSDT"], "metrics": ["vwap"], "interval": "fortnightly"},
        {},
        KEYS[0],
        400,
        "invalid_parameter",
    ),
    (
        "POST",
        "/v1/aggregations",
        None,
        {
            **DAY,
            "symbols": ["BTCUSDT"],
            "metrics": ["ohlcv"],
            "interval": "1s",
            "start_time": "2026-11-01T00:00:00Z",
        },
        {},
        KEYS[0],
        400,
        "limit_exceeded",
    ),
    ("POST", "/v1/trades/query", None, "{not json", {}, KEYS[0], 422, "validation_error"),
    (
        "POST",
        "/v1/trades/query",
        None,
        {"limit": 5, "colour": "red"},
        {},
        KEYS[0],
        422,
        "validation_error",
    ),
    ("POST", "/v1/trades/query", None, {"min_price": "-1"}, {}, KEYS[0], 422, "validation_error"),
    (
        "POST",
        "/v1/trades/query",
        None,
        {},
        {"Content-Length": "abc"},
        KEYS[0],
        400,
        "invalid_content_length",
    ),
    (
        "POST",
        "/v1/trades/query",
        None,
        {"symbols": ["BTCUSDT"] * 120_000},
        {},
        KEYS[0],
        413,
        "payload_too_large",
    ),
    ("GET", "/v1/nowhere", None, None, {}, KEYS[0], 404, "not_found"),
    ("DELETE", "/v1/trades", None, None, {}, KEYS[0], 405, "method_not_allowed"),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "headers", "key", "status", "code"),
    REFUSALS,
    ids=[f"{r[-1]}:{r[0]} {r[1]}" for r in REFUSALS],
)
def test_refusals_have_a_status_and_a_code(
    api_handler: ModuleType,
    api_lake: ApiLake,
    method: str,
    path: str,
    query: dict[str, Any] | None,
    body: Any,
    headers: dict[str, str],
    key: str | None,
    status: int,
    code: str,
) -> None:
    answer = invoke(api_handler, method, path, query, body, headers, api_key=key)
    assert (answer.status, answer.code) == (status, code), answer.body
    assert answer.body["error"]["message"]
    assert answer.body["meta"]["correlation_id"] == answer.headers["x-correlation-id"]
    assert answer.headers["cache-control"] == "no-store"


def test_too_many_rows_for_an_aggregation_is_a_413(
    api_handler: ModuleType, api_lake: ApiLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    import k2.query.engine

    monkeypatch.setattr(k2.query.engine, "MAX_AGGREGATION_TRADES", 10)
    body = {"symbols": ["BTCUSDT"], "metrics": ["vwap"], **DAY}
    body["start_time"], body["end_time"] = _lake_day(api_lake)
    answer = invoke(api_handler, "POST", "/v1/aggregations", body=body)
    assert (answer.status, answer.code) == (413, "too_many_rows"), answer.body


def _lake_day(api_lake: ApiLake) -> tuple[str, str]:
    from tests.api.api_testkit import utc

    day = 24 * 3600 * 1_000_000
    return utc(api_lake.day0).isoformat(), utc(api_lake.day0 + day).isoformat()


def test_correlation_ids_are_echoed_when_safe_and_replaced_when_not(
    api_handler: ModuleType, api_lake: ApiLake
) -> None:
    mine = invoke(api_handler, "GET", "/health", headers={"X-Correlation-ID": "trace-42.a:b"})
    assert mine.headers["x-correlation-id"] == "trace-42.a:b"
    assert mine.body["meta"]["correlation_id"] == "trace-42.a:b"
    hostile = invoke(api_handler, "GET", "/health", headers={"X-Correlation-ID": "a b\r\nSet: x"})
    assert hostile.headers["x-correlation-id"] != "a b\r\nSet: x"
    assert hostile.headers["x-correlation-id"] == hostile.body["meta"]["correlation_id"]


def test_cors_allows_only_the_configured_origins(
    api_handler: ModuleType, api_lake: ApiLake
) -> None:
    def preflight(origin: str) -> dict[str, str]:
        headers = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type",
        }
        return invoke(
            api_handler, "OPTIONS", "/v1/trades/query", headers=headers, api_key=None
        ).headers

    allowed = preflight("http://localhost:3000")
    assert allowed["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in allowed["access-control-allow-methods"]
    assert "access-control-allow-origin" not in preflight("https://evil.example")
    simple = invoke(api_handler, "GET", "/health", headers={"Origin": "http://127.0.0.1:8080"})
    assert simple.headers["access-control-allow-origin"] == "http://127.0.0.1:8080"
    assert "X-Correlation-ID" in simple.headers["access-control-expose-headers"]


def test_health_needs_no_key_and_docs_are_served(
    api_handler: ModuleType, api_lake: ApiLake
) -> None:
    health = invoke(api_handler, "GET", "/health", api_key=None)
    assert health.status == 200 and health.data["status"] == "healthy"
    schema = invoke(api_handler, "GET", "/openapi.json", api_key=None)
    assert schema.status == 200
    paths = json.loads(schema.raw)["paths"]
    assert {"/v1/ohlcv/health", "/v1/ohlcv/{timeframe}", "/v1/replay"} <= set(paths)
    docs = invoke(api_handler, "GET", "/docs", api_key=None)
    assert docs.status == 200 and b"swagger" in docs.raw.lower()


def test_each_request_emits_metrics_and_a_log_line(
    api_handler: ModuleType,
    api_lake: ApiLake,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    capsys.readouterr()
    caplog.clear()
    start, end = _lake_day(api_lake)
    ok = invoke(
        api_handler, "GET", "/v1/trades", {"start_time": start, "end_time": end, "limit": 7}
    )
    refused = invoke(api_handler, "GET", "/v1/trades", {"symbol": "?!"})
    assert ok.status == 200 and refused.status == 400
    documents = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    emf = [d for d in documents if "_aws" in d]
    served = [d for d in emf if d.get("route") == "/v1/trades" and "Latency" in d]
    assert [d["RowsReturned"] for d in served] == [[7.0], [0.0]]
    assert served[0]["RowsScanned"][0] >= 8 and served[1]["RowsScanned"] == [0.0]
    assert all(
        d["Latency"][0] > 0 and d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "K2"
        for d in served
    )
    errors = [d for d in emf if "Errors" in d]
    assert [(d["code"], d["status"]) for d in errors] == [("invalid_symbol", "400")]
    # The JSON log lines go to the stream the logger was made with; their records are these.
    logs = [r.__dict__ for r in caplog.records if r.getMessage() == "request"]
    assert [(r["route"], r["status"], r["error_code"], r["rows"]) for r in logs] == [
        ("/v1/trades", 200, None, 7),
        ("/v1/trades", 400, "invalid_symbol", 0),
    ]
    assert all(r["name"] == "k2-api" and r["correlation_id"] for r in logs)


def test_a_read_as_of_an_expired_snapshot_is_a_410(
    api_handler: ModuleType, api_lake: ApiLake
) -> None:
    """On the 1d bars, which get a second snapshot here, so that expiring their first leaves the
    trades' history (which other tests travel through) whole."""
    import random
    from datetime import UTC, datetime, timedelta

    from k2.jobs.ohlcv import run_ohlcv
    from k2.lake.catalog import glue_catalog

    day = 24 * 3600 * 1_000_000
    far = api_lake.day0 - 20 * day
    api_lake.append_trades(random.Random(20), 5, far, far + day)
    identifier = f"{api_lake.catalog_database}.gold_ohlcv_1d"
    first = glue_catalog(api_lake.settings).load_table(identifier).history()[0]
    run_ohlcv(api_lake.spark, api_lake.settings)
    api_lake.spark.sql(
        "CALL glue_catalog.system.expire_snapshots("
        f"table => '{identifier}', snapshot_ids => array({first.snapshot_id}))"
    ).collect()

    then = datetime.fromtimestamp(first.timestamp_ms / 1000, UTC) + timedelta(milliseconds=1)
    query = {"symbol": "BTCUSDT", "as_of": then.isoformat()}
    expired = invoke(api_handler, "GET", "/v1/ohlcv/1d", query)
    assert (expired.status, expired.code) == (410, "snapshot_expired"), expired.body
    assert invoke(api_handler, "GET", "/v1/ohlcv/1d", {"symbol": "BTCUSDT"}).status == 200
