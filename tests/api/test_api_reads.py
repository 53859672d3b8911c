"""Every read endpoint through the real Lambda handler, against DuckDB over the same snapshot.

Each test asks the API through a canonical API Gateway REST proxy event and computes the answer
independently: DuckDB SQL over the whole table read by pyiceberg at the snapshot the API
reports (no pruning, no engine code).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import pyarrow.parquet as pq
import pytest

from k2.domain.ohlcv import DAY_MICROS, HOUR_MICROS
from tests.api.api_calls import exact, invoke
from tests.api.api_testkit import ApiLake, utc

pytestmark = pytest.mark.integration

TRADE_ORDER = '"timestamp" {d}, exchange {d}, symbol {d}, trade_id {d}'


def iso(micros: int) -> str:
    return utc(micros).isoformat().replace("+00:00", "Z")


def test_get_trades_equals_duckdb_with_a_truthful_has_more(
    api_handler: ModuleType, api_lake: ApiLake
) -> None:
    start, end = api_lake.day0 + 6 * HOUR_MICROS, api_lake.day0 + 30 * HOUR_MICROS
    first = invoke(
        api_handler,
        "GET",
        "/v1/trades",
        {
            "symbol": "btcusdt",
            "exchange": "BINANCE",
            "start_time": iso(start),
            "end_time": utc(end).isoformat(),
            "fields": "timestamp,trade_id,price,quantity",
            "limit": "5",
        },
    )
    assert first.status == 200, first.body
    snapshot = first.body["meta"]["snapshot_id"]
    truth = api_lake.duckdb(
        "SELECT timestamp, trade_id, price, quantity FROM t WHERE symbol = ? AND exchange = ?"
        f" AND timestamp >= ? AND timestamp < ? ORDER BY {TRADE_ORDER.format(d='DESC')}",
        ["BTCUSDT", "binance", utc(start), utc(end)],
        t=api_lake.snapshot_rows("gold_crypto_trades", snapshot),
    )
    assert len(truth) > 100
    assert exact(first.data, truth[:5]) == truth[:5]
    assert first.body["pagination"] == {
        "limit": 5,
        "returned": 5,
        "has_more": True,
        "next_cursor": None,
    }

    everything = invoke(
        api_handler,
        "GET",
        "/v1/trades",
        {
            "symbol": "BTCUSDT",
            "exchange": "binance",
            "start_time": iso(start),
            "end_time": iso(end),
            "fields": "timestamp,trade_id,price,quantity",
            "limit": str(len(truth)),
        },
    )
    assert exact(everything.data, truth) == truth
    assert everything.body["pagination"]["has_more"] is False


def test_post_trades_query_filters_and_formats_equal_duckdb(
    api_handler: ModuleType, api_lake: ApiLake
) -> None:
    start, end = api_lake.day0, api_lake.day0 + DAY_MICROS
    request = {
        "symbols": ["btcusdt", "EthUsdt"],
        "start_time": iso(start),
        "end_time": iso(end),
        "fields": ["symbol", "trade_id", "timestamp", "price", "quantity", "side"],
        "min_price": "3000",
        "max_price": "8000.5",
        "min_quantity": "1",
        "order": "asc",
        "limit": 10_000,
    }
    answer = invoke(api_handler, "POST", "/v1/trades/query", body=request)
    assert answer.status == 200, answer.body
    truth = api_lake.duckdb(
        "SELECT symbol, trade_id, timestamp, price, quantity, side FROM t"
        " WHERE symbol IN ('BTCUSDT', 'ETHUSDT') AND timestamp >= ? AND timestamp < ?"
        " AND price >= 3000 AND price <= 8000.5 AND quantity >= 1"
        f" ORDER BY {TRADE_ORDER.format(d='')}",
        [utc(start), utc(end)],
        t=api_lake.snapshot_rows("gold_crypto_trades", answer.body["meta"]["snapshot_id"]),
    )
    assert len(truth) > 50
    assert exact(answer.data, truth) == truth

    as_csv = invoke(api_handler, "POST", "/v1/trades/query", body={**request, "format": "csv"})
    assert as_csv.status == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.headers["x-record-count"] == str(len(truth))
    assert "attachment" in as_csv.headers["content-disposition"]
    lines = list(csv.DictReader(io.StringIO(as_csv.raw.decode())))
    assert [row["trade_id"] for row in lines] == [str(row["trade_id"]) for row in truth]
    assert [Decimal(row["price"]) for row in lines] == [row["price"] for row in truth]
    assert list(lines[0]) == request["fields"]

    as_parquet = invoke(
        api_handler, "POST", "/v1/trades/query", body={**request, "format": "parquet"}
    )
    assert as_parquet.status == 200
    table = pq.read_table(io.BytesIO(as_parquet.raw))
    assert str(table.schema.field("price").type) == "decimal128(38, 18)"
    assert table.to_pylist() == truth


def test_quotes_get_and_post_equal_duckdb(api_handler: ModuleType, api_lake: ApiLake) -> None:
    start, end = api_lake.day0 + 3 * HOUR_MICROS, api_lake.day0 + 40 * HOUR_MICROS
    fields = "message_id,bid_price,ask_price,ask_quantity,ingestion_timestamp"
    answer = invoke(
        api_handler,
        "GET",
        "/v1/quotes",
        {"symbol": "btcusd", "start_time": iso(start), "end_time": iso(end), "fields": fields},
    )
    assert answer.status == 200, answer.body
    quotes = api_lake.snapshot_rows("gold_crypto_quotes", answer.body["meta"]["snapshot_id"])
    truth = api_lake.duckdb(
        f"SELECT {fields} FROM q WHERE symbol = 'BTCUSD' AND ingestion_timestamp >= ?"
        " AND ingestion_timestamp < ?"
        " ORDER BY ingestion_timestamp DESC, exchange DESC, symbol DESC, message_id DESC",
        [utc(start), utc(end)],
        q=quotes,
    )
    assert len(truth) > 20
    assert exact(answer.data, truth) == truth

    posted = invoke(
        api_handler,
        "POST",
        "/v1/quotes/query",
        body={
            "exchanges": ["KRAKEN"],
            "start_time": iso(start),
            "end_time": iso(end),
            "fields": fields.split(","),
            "order": "asc",
        },
    )
    assert exact(posted.data, truth[::-1]) == truth[::-1]


def test_ohlcv_series_and_batch_equal_the_bar_tables(
    api_handler: ModuleType, api_lake: ApiLake
) -> None:
    end = api_lake.end // HOUR_MICROS * HOUR_MICROS
    start = end - 24 * HOUR_MICROS
    answer = invoke(
        api_handler,
        "GET",
        "/v1/ohlcv/1h",
        {"symbol": "BTCUSDT", "start_time": iso(start), "end_time": iso(end), "limit": "24"},
    )
    assert answer.status == 200, answer.body
    bars_1h = api_lake.snapshot_rows("gold_ohlcv_1h", answer.body["meta"]["snapshot_id"])
    truth = api_lake.duckdb(
        "SELECT * FROM b WHERE symbol = 'BTCUSDT' AND window_start >= ? AND window_start < ?"
        " ORDER BY window_start DESC",
        [utc(start), utc(end)],
        b=bars_1h,
    )
    assert len(truth) == 24
    assert exact(answer.data, truth) == truth

    # Without a range: the `limit` bars' worth of time before now, newest first.
    default_window = invoke(api_handler, "GET", "/v1/ohlcv/1h", {"symbol": "ethusdt", "limit": 30})
    rows = default_window.data
    served_at = datetime.fromisoformat(default_window.body["meta"]["timestamp"])
    starts = [datetime.fromisoformat(row["window_start"]) for row in rows]
    assert 28 <= len(rows) <= 30 and starts == sorted(starts, reverse=True)
    assert all(served_at - timedelta(hours=30, seconds=5) <= s < served_at for s in starts)
    assert {row["symbol"] for row in rows} == {"ETHUSDT"}

    one_minute = api_lake.snapshot_rows("gold_ohlcv_1m")
    m_start, m_end = api_lake.day0 + 2 * HOUR_MICROS, api_lake.day0 + 3 * HOUR_MICROS
    batch = invoke(
        api_handler,
        "POST",
        "/v1/ohlcv/batch",
        body=[
            {
                "symbol": "btcusdt",
                "timeframe": "1m",
                "start_time": iso(m_start),
                "end_time": iso(m_end),
                "limit": 60,
            },
            {"symbol": "BTCUSD", "timeframe": "1h", "exchange": "Kraken", "limit": 24},
            {"symbol": "BTC/USD;--", "timeframe": "5m"},
        ],
    )
    assert batch.status == 200, batch.body
    first, second, broken = batch.data
    assert first["key"] == "1m_BTCUSDT" and first["success"] is True
    truth_1m = api_lake.duckdb(
        "SELECT * FROM b WHERE symbol = 'BTCUSDT' AND window_start >= ? AND window_start < ?"
        " ORDER BY window_start DESC LIMIT 60",
        [utc(m_start), utc(m_end)],
        b=one_minute,
    )
    assert exact(first["data"], truth_1m) == truth_1m
    assert second["key"] == "1h_BTCUSD_kraken" and second["success"] is True
    assert {row["exchange"] for row in second["data"]} == {"kraken"}
    assert broken["success"] is False and broken["error"]["code"] == "invalid_symbol"

    six = [{"symbol": "BTCUSDT", "timeframe": "1m"}] * 6
    assert invoke(api_handler, "POST", "/v1/ohlcv/batch", body=six).code == "validation_error"
    assert invoke(api_handler, "POST", "/v1/ohlcv/batch", body=[]).code == "validation_error"
    heavy = [{"symbol": "BTCUSDT", "timeframe": "1m", "limit": 10_000}] * 3
    over = invoke(api_handler, "POST", "/v1/ohlcv/batch", body=heavy)
    assert (over.status, over.code) == (400, "limit_exceeded")


def test_ohlcv_health_is_reachable_and_reports_each_timeframe(
    api_handler: ModuleType, api_lake: ApiLake
) -> None:
    answer = invoke(api_handler, "GET", "/v1/ohlcv/health")
    assert answer.status == 200, answer.body
    now = datetime.fromisoformat(answer.body["meta"]["timestamp"])
    thresholds = {"1m": 10, "5m": 20, "30m": 60, "1h": 120, "1d": 1500}
    reported = {item["timeframe"]: item for item in answer.data["timeframes"]}
    assert set(reported) == set(thresholds)
    for timeframe, threshold in thresholds.items():
        newest = api_lake.duckdb(
            "SELECT max(window_start) AS newest FROM b",
            b=api_lake.snapshot_rows(f"gold_ohlcv_{timeframe}"),
        )[0]["newest"]
        item = reported[timeframe]
        assert datetime.fromisoformat(item["last_window_start"]) == newest
        age_minutes = (now - newest).total_seconds() / 60
        assert item["status"] == ("healthy" if age_minutes <= threshold else "stale")
    statuses = {item["status"] for item in reported.values()}
    assert answer.data["overall_status"] == ("healthy" if statuses == {"healthy"} else "degraded")


def test_daily_summary_is_the_1d_bar(api_handler: ModuleType, api_lake: ApiLake) -> None:
    day = utc(api_lake.day0).date()
    answer = invoke(api_handler, "GET", f"/v1/summary/btcusdt/{day.isoformat()}")
    assert answer.status == 200, answer.body
    truth = api_lake.duckdb(
        "SELECT exchange, symbol, open, high, low, close, volume, vwap, trade_count FROM b"
        " WHERE symbol = 'BTCUSDT' AND window_start = ?",
        [utc(api_lake.day0)],
        b=api_lake.snapshot_rows("gold_ohlcv_1d"),
    )
    assert len(truth) == 1
    (summary,) = answer.data
    assert summary["date"] == day.isoformat()
    summary.pop("date")
    assert exact([summary], truth) == truth

    missing = invoke(api_handler, "GET", f"/v1/summary/BTCUSDT/{date(2020, 1, 1).isoformat()}")
    assert (missing.status, missing.code) == (404, "not_found")
    malformed = invoke(api_handler, "GET", "/v1/summary/BTCUSDT/2026-13-45")
    assert (malformed.status, malformed.code) == (422, "validation_error")


def test_symbols_stats_and_snapshots(api_handler: ModuleType, api_lake: ApiLake) -> None:
    symbols = invoke(api_handler, "GET", "/v1/symbols")
    trades = api_lake.snapshot_rows("gold_crypto_trades")
    truth = api_lake.duckdb(
        "SELECT DISTINCT exchange, symbol FROM t ORDER BY exchange, symbol", t=trades
    )
    assert symbols.data == truth
    kraken = invoke(api_handler, "GET", "/v1/symbols", {"exchange": "KRAKEN"})
    assert kraken.data == [row for row in truth if row["exchange"] == "kraken"]

    stats = {row["table"]: row for row in invoke(api_handler, "GET", "/v1/stats").data}
    assert set(stats) == {
        "trades",
        "quotes",
        "ohlcv_1m",
        "ohlcv_5m",
        "ohlcv_30m",
        "ohlcv_1h",
        "ohlcv_1d",
    }
    assert stats["trades"]["data_file_records"] == trades.num_rows
    assert stats["trades"]["snapshot_id"] == api_lake.current_snapshot_id("gold_crypto_trades")

    listed = invoke(api_handler, "GET", "/v1/snapshots", {"table": "trades", "limit": "100"})
    from k2.lake.catalog import glue_catalog

    table = glue_catalog(api_lake.settings).load_table(
        f"{api_lake.catalog_database}.gold_crypto_trades"
    )
    expected = [
        s.snapshot_id for s in sorted(table.metadata.snapshots, key=lambda s: -s.timestamp_ms)
    ]
    assert [item["snapshot_id"] for item in listed.data] == expected
    assert listed.data[0]["operation"] == "append"


def _snapshot_of(api_lake: ApiLake) -> tuple[int, datetime]:
    from k2.lake.catalog import glue_catalog

    table = glue_catalog(api_lake.settings).load_table(
        f"{api_lake.catalog_database}.gold_crypto_trades"
    )
    current = table.current_snapshot()
    assert current is not None
    return current.snapshot_id, datetime.fromtimestamp(current.timestamp_ms / 1000, UTC)


def test_time_travel_by_snapshot_id_and_as_of(api_handler: ModuleType, api_lake: ApiLake) -> None:
    import random

    past_day = api_lake.day0 - 10 * DAY_MICROS
    window = {"start_time": iso(past_day), "end_time": iso(past_day + DAY_MICROS)}
    before_id, before_time = _snapshot_of(api_lake)
    api_lake.append_trades(random.Random(5), 40, past_day, past_day + DAY_MICROS)
    after_id, _ = _snapshot_of(api_lake)
    assert after_id != before_id

    now = invoke(api_handler, "POST", "/v1/trades/query", body={**window, "limit": 1000})
    assert now.body["meta"]["snapshot_id"] == after_id and len(now.data) == 40

    at_snapshot = invoke(
        api_handler, "POST", f"/v1/snapshots/{before_id}/query", body={**window, "limit": 1000}
    )
    assert at_snapshot.status == 200, at_snapshot.body
    assert at_snapshot.data == [] and at_snapshot.body["meta"]["snapshot_id"] == before_id

    as_of = invoke(
        api_handler,
        "GET",
        "/v1/trades",
        {**window, "as_of": (before_time + timedelta(milliseconds=1)).isoformat()},
    )
    assert as_of.data == [] and as_of.body["meta"]["snapshot_id"] == before_id

    truth = api_lake.duckdb(
        "SELECT count(*) AS n FROM t WHERE timestamp >= ? AND timestamp < ?",
        [utc(past_day), utc(past_day + DAY_MICROS)],
        t=api_lake.snapshot_rows("gold_crypto_trades", after_id),
    )
    assert truth == [{"n": 40}]

    unknown = invoke(api_handler, "POST", "/v1/snapshots/1234567/query", body={})
    assert (unknown.status, unknown.code) == (404, "snapshot_not_found")
    too_early = invoke(api_handler, "GET", "/v1/trades", {"as_of": "2001-01-01T00:00:00Z"})
    assert (too_early.status, too_early.code) == (404, "as_of_before_first_snapshot")


def test_replay_pages_concatenate_to_the_ordered_snapshot_despite_an_append(
    api_handler: ModuleType, api_lake: ApiLake
) -> None:
    import random

    start, end = api_lake.day0 + HOUR_MICROS, api_lake.day0 + 20 * HOUR_MICROS
    request: dict[str, Any] = {
        "symbols": ["BTCUSDT", "btcusd"],
        "start_time": iso(start),
        "end_time": iso(end),
        "fields": ["timestamp", "exchange", "symbol", "trade_id", "price"],
        "limit": 97,
    }
    first = invoke(api_handler, "POST", "/v1/replay", body=request)
    assert first.status == 200, first.body
    snapshot = first.body["meta"]["snapshot_id"]
    api_lake.append_trades(random.Random(9), 30, start, end)  # lands between pages

    pages = [first]
    while pages[-1].body["pagination"]["next_cursor"]:
        cursor = pages[-1].body["pagination"]["next_cursor"]
        pages.append(invoke(api_handler, "POST", "/v1/replay", body={**request, "cursor": cursor}))
        assert pages[-1].status == 200, pages[-1].body
        assert pages[-1].body["meta"]["snapshot_id"] == snapshot
    rows = [row for page in pages for row in page.data]
    truth = api_lake.duckdb(
        "SELECT timestamp, exchange, symbol, trade_id, price FROM t"
        " WHERE symbol IN ('BTCUSDT', 'BTCUSD') AND timestamp >= ? AND timestamp < ?"
        f" ORDER BY {TRADE_ORDER.format(d='')}",
        [utc(start), utc(end)],
        t=api_lake.snapshot_rows("gold_crypto_trades", snapshot),
    )
    assert len(pages) > 3
    assert exact(rows, truth) == truth
    assert [page.body["pagination"]["has_more"] for page in pages] == [True] * (len(pages) - 1) + [
        False
    ]

    cursor = first.body["pagination"]["next_cursor"]
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    bad = invoke(api_handler, "POST", "/v1/replay", body={**request, "cursor": tampered})
    assert (bad.status, bad.code) == (400, "invalid_cursor")
    other = {**request, "symbols": ["ETHUSDT"], "cursor": cursor}
    assert invoke(api_handler, "POST", "/v1/replay", body=other).code == "invalid_cursor"


def _round18(numerator: Decimal, denominator: Decimal) -> Decimal:
    from fractions import Fraction

    exact_value = Fraction(numerator) / Fraction(denominator)
    scaled = exact_value * 10**18
    whole = int(scaled)
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Decimal(whole).scaleb(-18)


def test_aggregations_equal_an_independent_duckdb_computation(
    api_handler: ModuleType, api_lake: ApiLake
) -> None:
    start, end = api_lake.day0 + 4 * HOUR_MICROS, api_lake.day0 + 28 * HOUR_MICROS
    answer = invoke(
        api_handler,
        "POST",
        "/v1/aggregations",
        body={
            "symbols": ["ethusdt"],
            "metrics": ["vwap", "twap", "ohlcv", "volume_profile"],
            "interval": "1hour",
            "price_step": "1000",
            "start_time": iso(start),
            "end_time": iso(end),
        },
    )
    assert answer.status == 200, answer.body
    (result,) = answer.data
    trades = api_lake.snapshot_rows("gold_crypto_trades", answer.body["meta"]["snapshot_id"])
    where = "symbol = 'ETHUSDT' AND timestamp >= ? AND timestamp < ?"
    span = [utc(start), utc(end)]
    sums = api_lake.duckdb(
        "SELECT sum(CAST(price AS DECIMAL(38, 8)) * CAST(quantity AS DECIMAL(38, 8))) AS notional,"
        f" sum(quantity) AS volume, count(*) AS n FROM t WHERE {where}",
        span,
        t=trades,
    )[0]
    assert result["trade_count"] == sums["n"] > 100
    assert Decimal(result["vwap"]) == _round18(sums["notional"], sums["volume"])

    # TWAP: each price weighted by the time until the next trade (the last until the end).
    weighted = api_lake.duckdb(
        "SELECT sum(CAST(price AS DECIMAL(38, 8)) * CAST(held AS DECIMAL(38, 0))) AS w,"
        " min(us) AS first_us FROM ("
        "  SELECT price, epoch_us(timestamp) AS us,"
        "   coalesce(lead(epoch_us(timestamp)) OVER (ORDER BY timestamp, trade_id), ?)"
        "   - epoch_us(timestamp) AS held"
        f"  FROM t WHERE {where})",
        [end, *span],
        t=trades,
    )[0]
    assert Decimal(result["twap"]) == _round18(weighted["w"], Decimal(end - weighted["first_us"]))

    # Without buckets or a profile, DuckDB sums exactly (k2.query.exact_totals): same answer.
    whole_range = invoke(
        api_handler,
        "POST",
        "/v1/aggregations",
        body={
            "symbols": ["ETHUSDT"],
            "metrics": ["vwap", "twap"],
            "start_time": iso(start),
            "end_time": iso(end),
            "as_of": answer.body["meta"]["timestamp"],
        },
    )
    (totals,) = whole_range.data
    assert (totals["trade_count"], totals["vwap"], totals["twap"]) == (
        result["trade_count"],
        result["vwap"],
        result["twap"],
    )

    buckets = api_lake.duckdb(
        "SELECT epoch_us(timestamp) // ? * ? AS bucket,"
        " arg_min(price, (timestamp, trade_id)) AS open, max(price) AS high,"
        " min(price) AS low, arg_max(price, (timestamp, trade_id)) AS close,"
        f" sum(quantity) AS volume, count(*) AS trade_count FROM t WHERE {where}"
        " GROUP BY bucket ORDER BY bucket",
        [HOUR_MICROS, HOUR_MICROS, *span],
        t=trades,
    )
    got = [
        {
            "bucket": (datetime.fromisoformat(b["start"]) - utc(0)) // timedelta(microseconds=1),
            **{k: Decimal(b[k]) for k in ("open", "high", "low", "close", "volume")},
            "trade_count": b["trade_count"],
        }
        for b in result["buckets"]
    ]
    assert got == buckets

    levels = api_lake.duckdb(
        "SELECT CAST(floor(price / 1000) AS BIGINT) AS level, sum(quantity) AS volume,"
        f" count(*) AS trade_count FROM t WHERE {where} GROUP BY level ORDER BY level",
        span,
        t=trades,
    )
    assert [
        (int(Decimal(level["price_low"]) // 1000), Decimal(level["volume"]), level["trade_count"])
        for level in result["volume_profile"]
    ] == [(row["level"], row["volume"], row["trade_count"]) for row in levels]
