"""A small lake for the API tests, and independent ground truth over it.

Gold trades and quotes are written with Spark into a Glue database of the API tests' own (the
last two days up to a minute ago, so freshness and default windows have data); the bars come from
the real OHLCV job. Ground truth is DuckDB SQL over a whole-table pyiceberg read of the same
snapshot: no pruning, no engine code.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import pyarrow as pa

from k2.domain.ids import trade_message_id
from k2.domain.markets import Exchange
from k2.domain.ohlcv import DAY_MICROS, Timeframe
from k2.jobs.ohlcv import run_ohlcv
from k2.lake.catalog import glue_catalog
from k2.lake.lake_init import init_lake
from k2.lake.tables import gold_quotes_table, gold_trades_table, ohlcv_table
from k2.query.scan import connect
from k2.settings import K2Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DATABASE = "k2_api_test"
MARKETS = [("binance", "BTCUSDT"), ("binance", "ETHUSDT"), ("kraken", "BTCUSD")]
KEYS = ("test-key-one-0123456789", "test-key-two-9876543210")
REPO = Path(__file__).resolve().parents[2]
HANDLER_FILE = REPO / "functions" / "api" / "handler.py"
CANONICAL_EVENT = REPO / "tests" / "fixtures" / "apigateway" / "rest_proxy_event.json"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def utc(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


@dataclass
class ApiLake:
    settings: K2Settings
    spark: SparkSession
    day0: int
    """UTC midnight two days ago (µs): the data runs from here to a minute before set-up."""
    end: int
    next_id: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def catalog_database(self) -> str:
        return self.settings.glue_database

    def append_trades(self, rng: random.Random, count: int, start: int, end: int) -> None:
        identifier = gold_trades_table().spark_identifier(DATABASE)
        schema = self.spark.table(identifier).schema
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        for index in range(count):
            exchange, symbol = rng.choice(MARKETS)
            trade_id = self.next_id.get((exchange, symbol), 5000)
            self.next_id[(exchange, symbol)] = trade_id + 1
            ts = (
                rows[-1]["timestamp"]
                if index % 11 == 5 and rows
                else utc(rng.randrange(start, end))
            )
            rows.append(
                {
                    "message_id": trade_message_id(Exchange(exchange), symbol, trade_id),
                    "exchange": exchange,
                    "symbol": symbol,
                    "exchange_symbol": symbol,
                    "base_asset": symbol[:3],
                    "quote_asset": symbol[3:],
                    "trade_id": trade_id,
                    "timestamp": ts,
                    "price": Decimal(rng.randint(10**10, 10**12)).scaleb(-8),
                    "quantity": Decimal(rng.randint(1, 10**9)).scaleb(-8),
                    "side": "BUY" if trade_id % 2 else "SELL",
                    "ingestion_timestamp": now,
                    "gold_updated_at": now,
                }
            )
        self._append(identifier, schema, rows)

    def append_quotes(self, rng: random.Random, count: int) -> None:
        identifier = gold_quotes_table().spark_identifier(DATABASE)
        schema = self.spark.table(identifier).schema
        rows = []
        for index in range(count):
            exchange, symbol = rng.choice(MARKETS)
            at = utc(rng.randrange(self.day0, self.end))
            bid = Decimal(rng.randint(10**10, 10**12)).scaleb(-8)
            rows.append(
                {
                    "message_id": f"quote-{index:06d}",
                    "exchange": exchange,
                    "symbol": symbol,
                    "exchange_symbol": symbol,
                    "base_asset": symbol[:3],
                    "quote_asset": symbol[3:],
                    "update_id": index,
                    "exchange_timestamp": at,
                    "bid_price": bid,
                    "bid_quantity": Decimal("1.5"),
                    "ask_price": bid + 1,
                    "ask_quantity": Decimal("2.25"),
                    "ingestion_timestamp": at,
                    "gold_updated_at": at,
                }
            )
        self._append(identifier, schema, rows)

    def _append(self, identifier: str, schema: Any, rows: list[dict[str, Any]]) -> None:
        records = [tuple(row[f.name] for f in schema) for row in rows]
        self.spark.createDataFrame(records, schema).writeTo(identifier).append()

    # --- ground truth ----------------------------------------------------------------------

    def snapshot_rows(self, table: str, snapshot_id: int | None = None) -> pa.Table:
        """Every row of ``table`` at a snapshot (default: current), read whole."""
        loaded = glue_catalog(self.settings).load_table(f"{DATABASE}.{table}")
        return loaded.scan(snapshot_id=snapshot_id).to_arrow()

    def current_snapshot_id(self, table: str) -> int:
        loaded = glue_catalog(self.settings).load_table(f"{DATABASE}.{table}")
        current = loaded.current_snapshot()
        assert current is not None
        return current.snapshot_id

    def duckdb(
        self, sql: str, parameters: list[Any] | None = None, **tables: pa.Table
    ) -> list[dict[str, Any]]:
        connection = connect()
        for name, arrow in tables.items():
            connection.register(name, arrow)
        try:
            result = connection.sql(sql, params=parameters or []).to_arrow_table()
        finally:
            connection.close()
        rows: list[dict[str, Any]] = result.to_pylist()
        return rows


def build_api_lake(spark: SparkSession, k2_settings: K2Settings) -> ApiLake:
    settings = k2_settings.model_copy(update={"glue_database": DATABASE})
    tables = [gold_trades_table(), gold_quotes_table(), *(ohlcv_table(t) for t in Timeframe)]
    init_lake(glue_catalog(settings), DATABASE, tables)
    now = micros(datetime.now(UTC))
    day0 = now // DAY_MICROS * DAY_MICROS - 2 * DAY_MICROS
    end = now - 60_000_000
    lake = ApiLake(settings, spark, day0, end)
    rng = random.Random(61)
    lake.append_trades(rng, 2500, day0, end)
    lake.append_trades(rng, 2500, day0, end)
    lake.append_quotes(rng, 800)
    run_ohlcv(spark, settings)
    return lake


# --- the Lambda handler, loaded as Lambda loads it -------------------------------------------


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def handler_environment(settings: K2Settings) -> dict[str, str]:
    return {
        "K2_GLUE_DATABASE": DATABASE,
        "K2_API_KEYS": ",".join(KEYS),
        "K2_API_METADATA_TTL_SECONDS": "0",
        "POWERTOOLS_SERVICE_NAME": "k2-api",
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


def load_handler_module(
    settings: K2Settings, name: str = "k2_api_handler_under_test"
) -> ModuleType:
    """``functions/api/handler.py`` imported from its file (it is not in a package), with the
    environment a deployment gives it."""
    with environment(handler_environment(settings)):
        spec = importlib.util.spec_from_file_location(name, HANDLER_FILE)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


# --- API Gateway REST proxy events, from AWS's documented example -------------------------------


class LambdaContextStub:
    """What the Lambda runtime passes (only the attributes handlers read)."""

    function_name = "k2-api"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:k2-api"
    memory_limit_in_mb = 1024
    aws_request_id = "0d4e1f6a-test-request"
    log_group_name = "/aws/lambda/k2-api"
    log_stream_name = "2026/11/26/[$LATEST]test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 29_000


def rest_event(
    method: str,
    path: str,
    query: Mapping[str, str | list[str]] | None = None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    api_key: str | None = KEYS[0],
) -> dict[str, Any]:
    """AWS's canonical REST proxy event with this request's method, path, query and body."""
    event: dict[str, Any] = deepcopy(json.loads(CANONICAL_EVENT.read_text()))
    all_headers = {"Host": "api.example.com", "Accept": "*/*", **(headers or {})}
    if api_key is not None:
        all_headers["X-API-Key"] = api_key
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    if text is not None:
        all_headers.setdefault("Content-Type", "application/json")
        all_headers.setdefault("Content-Length", str(len(text.encode())))
    multi_query = {k: v if isinstance(v, list) else [v] for k, v in (query or {}).items()}
    event.update(
        {
            "resource": "/{proxy+}",
            "path": path,
            "httpMethod": method,
            "headers": all_headers,
            "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": {"proxy": path.lstrip("/")},
            "body": text,
            "isBase64Encoded": False,
        }
    )
    context = event["requestContext"]
    context.update({"httpMethod": method, "path": f"/{context.get('stage', 'prod')}{path}"})
    context["resourcePath"] = "/{proxy+}"
    return event


def query_string(query: Mapping[str, str]) -> str:
    return urlencode(query)
