"""Trades per second through bronze → silver → gold, and how fresh gold is in continuous mode.

    .venv/bin/python -m bench.medallion_throughput [--records 100000] [--freshness-seconds 120]
        [--interval 30]

Needs `k2 local up` (the exchange simulator included), without `--pipeline`: the bench starts
and stops the feed handlers and the pipeline itself. `--records 0` or `--freshness-seconds 0`
skips that part. Runs the freshness part first, so that no idle Spark JVM of the bench's own
sits beside the pipeline's.

Freshness: both feed handlers against the exchange simulator and `python -m k2.jobs.pipeline
--interval <s>` (every layer's streams in one Spark application, processing-time trigger), as
`k2 local up --pipeline` runs them. After a warm-up (two gold commits), gold_crypto_trades is
polled every 0.5 s (the Glue table's metadata location; on a change, the data files each new
snapshot added) for the trades the exchanges made during the window. Freshness of a trade =
the committing gold snapshot's timestamp_ms - the trade's exchange timestamp. Baseline in the
same run: the feed's own lag over the same trades, exchange timestamp → Kafka timestamp (the
producer's CreateTime, set when the handler calls send()), read back from Kafka.

Throughput: publishes N trades (half Binance, half Kraken, raw records framed like the feed
handlers') to the raw trades topics, then times the availableNow runs `run_bronze` (both
exchanges) → `run_silver` (both) → `run_gold` on a warm SparkSession (an untimed round over a
small warm-up batch first, which also drains any backlog). Baseline in the same run: the same
N Kafka values read with kafka-python, decoded in Python with silver's own functions (Glue
Schema Registry frame + fastavro with the writer's schema), loaded into DuckDB through Arrow,
then normalised, validated (the silver rules, as far as SQL expresses them) and MERGEd
insert-if-absent into a DuckDB gold table on (exchange, symbol, trade_id), each step timed.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import NoneType
from typing import Any, get_args, get_type_hints

import duckdb
import pyarrow as pa
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from pyiceberg.catalog.glue import GlueCatalog
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.manifest import DataFileContent, ManifestEntryStatus
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DecimalType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestamptzType,
)

from k2.aws import aws_client
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.domain.symbols import ASSET_ALIASES, BINANCE_QUOTE_ASSETS
from k2.domain.timestamps import micros_to_rfc3339
from k2.domain.validation import DEFAULT_POLICY
from k2.feeds.avro_schemas import schema_definition
from k2.feeds.binance import BinanceRawTrade
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.kafka_producer import build_producer, send_all
from k2.feeds.kraken import KrakenRawTrade
from k2.feeds.topic_reader import Offsets, end_offsets, read_between
from k2.jobs.bronze import run_bronze
from k2.jobs.gold import gold_table, run_gold
from k2.jobs.silver import registry_lookup, run_silver
from k2.jobs.silver_records import (
    SchemaLookup,
    SilverRecord,
    decode_bronze_row,
    decoded_value,
    split_bronze_rows,
)
from k2.jobs.spark_session import build_spark_session
from k2.lake.catalog import glue_catalog
from k2.lake.tables import bronze_table, silver_table
from k2.local.binance_trade_generator import (
    PublishedRecord,
    binance_trades,
    publish_binance_trades,
)
from k2.local.cloud import FEED_BINANCE, FEED_KRAKEN, PIPELINE, PIPELINE_COMPONENTS, LocalCloud
from k2.settings import K2Settings

TradeKey = tuple[str, str, int]  # (exchange, normalised symbol, trade id): gold's key
KRAKEN_RAW_TRADE_SCHEMA = "kraken_raw_trade"
KRAKEN_START_PRICES = {"BTC/USD": Decimal("67000.0"), "ETH/USD": Decimal("3500.00")}
POLL_INTERVAL_S = 0.5
WARM_UP_COMMITS = 2
WARM_UP_TIMEOUT_S = 600.0


# --- small helpers ---------------------------------------------------------------------------


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def percentile(ordered: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def summary(values: Iterable[float]) -> str:
    """p50, p99 and max in milliseconds, and the count."""
    ordered = sorted(values)
    if not ordered:
        return f"{'-':>11} {'-':>11} {'-':>11} {0:>7}"
    p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
    return f"{p50:8.0f} ms {p99:8.0f} ms {ordered[-1]:8.0f} ms {len(ordered):7d}"


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:10,.0f} records/s" if seconds > 0 else "         - records/s"


# --- publishing N trades ---------------------------------------------------------------------


def kraken_trades(count: int, *, seed: int, first_id: int) -> list[dict[str, Any]]:
    """``count`` raw Kraken v2 trades as the feed handler writes them (schema
    ``kraken_raw_trade``), round-robin over BTC/USD and ETH/USD, ids contiguous per symbol,
    trade times one millisecond apart ending now."""
    rng = random.Random(seed)
    symbols = tuple(KRAKEN_START_PRICES)
    prices = dict(KRAKEN_START_PRICES)
    next_ids = dict.fromkeys(symbols, first_id)
    tick, step = Decimal("0.1"), Decimal("0.00000001")
    now_us = time.time_ns() // 1000
    records = []
    for index in range(count):
        symbol = symbols[index % len(symbols)]
        prices[symbol] = max(tick, prices[symbol] + tick * rng.randint(-50, 50))
        records.append(
            {
                "symbol": symbol,
                "side": "buy" if rng.random() < 0.5 else "sell",
                "price": f"{prices[symbol]:f}",
                "qty": f"{step * rng.randint(1, 200_000_000):f}",
                "ord_type": "limit" if rng.random() < 0.6 else "market",
                "trade_id": next_ids[symbol],
                "timestamp": micros_to_rfc3339(now_us - (count - index) * 1_000),
                "message_type": "update",
                "ingestion_timestamp": now_us,
            }
        )
        next_ids[symbol] += 1
    return records


def publish_kraken_trades(
    settings: K2Settings, records: list[dict[str, Any]]
) -> list[PublishedRecord]:
    """The Kraken twin of ``publish_binance_trades``: registered schema, framed, keyed by the
    normalised symbol, acks=all."""
    registry = GlueSchemaRegistry(aws_client("glue", settings), settings.schema_registry_name)
    topic = raw_topic(DataType.TRADES, Exchange.KRAKEN)
    version_id = registry.register(topic, schema_definition(KRAKEN_RAW_TRADE_SCHEMA))
    producer = build_producer(settings, client_id="k2-bench-kraken-trades")
    try:
        metadata = send_all(
            producer,
            topic,
            [
                (r["symbol"].replace("/", "").encode(), registry.serialize(version_id, r))
                for r in records
            ],
        )
    finally:
        producer.close()
    return [
        PublishedRecord(r["symbol"], r["trade_id"], m.partition, m.offset)
        for r, m in zip(records, metadata, strict=True)
    ]


def publish(
    settings: K2Settings, per_exchange: dict[Exchange, int], *, seed: int, first_id: int
) -> dict[Exchange, list[PublishedRecord]]:
    published = {}
    if per_exchange.get(Exchange.BINANCE):
        records = binance_trades(per_exchange[Exchange.BINANCE], seed=seed, first_id=first_id)
        published[Exchange.BINANCE] = publish_binance_trades(settings, records)
    if per_exchange.get(Exchange.KRAKEN):
        records = kraken_trades(per_exchange[Exchange.KRAKEN], seed=seed, first_id=first_id)
        published[Exchange.KRAKEN] = publish_kraken_trades(settings, records)
    return published


def read_published(
    settings: K2Settings, published: dict[Exchange, list[PublishedRecord]]
) -> dict[Exchange, list[ConsumerRecord]]:
    """Exactly the published records, back from Kafka with kafka-python (assign + seek)."""
    ranges: dict[TopicPartition, tuple[int, int]] = {}
    exchange_of: dict[str, Exchange] = {}
    for exchange, records in published.items():
        topic = raw_topic(DataType.TRADES, exchange)
        exchange_of[topic] = exchange
        for record in records:
            partition = TopicPartition(topic, record.partition)
            low, high = ranges.get(partition, (record.offset, record.offset))
            ranges[partition] = (min(low, record.offset), max(high, record.offset))
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        fetch_max_bytes=64 * 2**20,
        max_partition_fetch_bytes=16 * 2**20,
    )
    result: dict[Exchange, list[ConsumerRecord]] = {exchange: [] for exchange in published}
    try:
        consumer.assign(list(ranges))
        for partition, (low, _) in ranges.items():
            consumer.seek(partition, low)
        remaining = set(ranges)
        deadline = time.monotonic() + 120
        while remaining and time.monotonic() < deadline:
            for partition, batch in consumer.poll(timeout_ms=500, max_records=100_000).items():
                low, high = ranges[partition]
                out = result[exchange_of[partition.topic]]
                out.extend(record for record in batch if low <= record.offset <= high)
                if consumer.position(partition) > high:
                    remaining.discard(partition)
        if remaining:
            raise TimeoutError(f"could not read back {sorted(map(str, remaining))}")
    finally:
        consumer.close()
    return result


# --- the Spark side --------------------------------------------------------------------------


@dataclass
class LayerTimes:
    bronze_s: float = 0.0
    silver_s: float = 0.0
    gold_s: float = 0.0
    bronze_rows: int = 0
    silver_rows: int = 0
    dlq_rows: int = 0
    gold_rows_in: int = 0

    @property
    def total_s(self) -> float:
        return self.bronze_s + self.silver_s + self.gold_s


def run_layers(spark: Any, settings: K2Settings, exchanges: Sequence[Exchange]) -> LayerTimes:
    """One availableNow round: bronze per exchange → silver per exchange → gold, timed."""
    times = LayerTimes()
    started = time.perf_counter()
    for exchange in exchanges:
        times.bronze_rows += run_bronze(spark, settings, exchange, DataType.TRADES).rows_appended
    times.bronze_s = time.perf_counter() - started
    started = time.perf_counter()
    for exchange in exchanges:
        result = run_silver(spark, settings, exchange, DataType.TRADES)
        times.silver_rows += result.silver_rows
        times.dlq_rows += result.dlq_rows
    times.silver_s = time.perf_counter() - started
    started = time.perf_counter()
    times.gold_rows_in = run_gold(spark, settings, DataType.TRADES).rows_in
    times.gold_s = time.perf_counter() - started
    return times


# --- the DuckDB baseline ---------------------------------------------------------------------

_ARROW_OF_PYTHON = {str: pa.string(), int: pa.int64(), bool: pa.bool_()}
LINEAGE = pa.schema([("topic", pa.string()), ("partition", pa.int32()), ("offset", pa.int64())])


def raw_arrow_schema(raw_type: type[Any]) -> pa.Schema:
    """The raw dataclass's fields (= the Avro record's) as Arrow columns, plus Kafka lineage."""
    hints = get_type_hints(raw_type)
    columns = []
    for item in fields(raw_type):
        types = [
            t for t in (get_args(hints[item.name]) or (hints[item.name],)) if t is not NoneType
        ]
        columns.append(pa.field(item.name, _ARROW_OF_PYTHON[types[0]]))
    return pa.schema([*columns, *LINEAGE])


RAW_SCHEMAS = {
    Exchange.BINANCE: raw_arrow_schema(BinanceRawTrade),
    Exchange.KRAKEN: raw_arrow_schema(KrakenRawTrade),
}


def decode_to_arrow(
    records: Sequence[ConsumerRecord], schema: pa.Schema, lookup: SchemaLookup
) -> tuple[pa.Table, int]:
    """Kafka values → one Arrow table of raw records, with silver's decode functions (frame,
    writer's schema from the registry, fastavro with timestamps as integers). Returns the
    table and how many values did not decode (silver's decode/schema-stage dead letters)."""
    raw_names = [name for name in schema.names if name not in LINEAGE.names]
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    refused = 0
    for record in records:
        try:
            _, decoded = decoded_value(record.value, lookup)
        except ValueError:
            refused += 1
            continue
        for name in raw_names:
            columns[name].append(decoded.get(name))
        columns["topic"].append(record.topic)
        columns["partition"].append(record.partition)
        columns["offset"].append(record.offset)
    arrays = [pa.array(columns[f.name], type=f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema), refused


def _duckdb_type(iceberg_type: IcebergType) -> str:
    if isinstance(iceberg_type, DecimalType):
        return f"DECIMAL({iceberg_type.precision},{iceberg_type.scale})"
    simple: dict[type[IcebergType], str] = {
        StringType: "VARCHAR",
        LongType: "BIGINT",
        IntegerType: "INTEGER",
        BooleanType: "BOOLEAN",
        BinaryType: "BLOB",
        TimestamptzType: "TIMESTAMPTZ",
    }
    return simple[type(iceberg_type)]


def _sql_list(values: Iterable[str]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def duckdb_setup_sql() -> list[str]:
    """Macros for the normalise rules, the gold table (gold_crypto_trades' columns) and a DLQ."""
    gold = gold_table(DataType.TRADES)
    columns = ", ".join(f'"{c.name}" {_duckdb_type(c.type)}' for c in gold.columns)
    aliases = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in ASSET_ALIASES.items())
    quotes = sorted(BINANCE_QUOTE_ASSETS, key=len, reverse=True)  # the longest suffix wins
    quote_case = " ".join(
        f"WHEN up LIKE '%{q}' AND length(up) > {len(q)} THEN '{q}'" for q in quotes
    )
    return [
        "SET TimeZone = 'UTC'",
        # k2.domain.symbols.normalise_asset
        f"CREATE MACRO asset(code) AS CASE upper(code) {aliases} ELSE upper(code) END",
        # k2.domain.symbols.binance_instrument: the longest known quote-asset suffix
        f"CREATE MACRO binance_quote(up) AS CASE {quote_case} END",
        # k2.domain.decimals.exact_decimal: decimal text that decimal(38,18) holds exactly
        # (exact for plain text; with an exponent the scale test is conservative).
        r"""CREATE MACRO decimal_reason(t) AS CASE
            WHEN length(t) > 200
              OR NOT regexp_full_match(t, '-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]{1,4})?')
              THEN 'invalid_decimal'
            WHEN TRY_CAST(t AS DECIMAL(38,18)) IS NULL THEN 'decimal_out_of_range'
            WHEN NOT regexp_full_match(t, '-?[0.]+(?:[eE].*)?')
              AND length(rtrim(regexp_extract(t, '\.([0-9]+)', 1), '0'))
                - coalesce(TRY_CAST(regexp_extract(t, '[eE]([+-]?[0-9]+)$', 1) AS INTEGER), 0)
                > 18
              THEN 'decimal_out_of_range'
            END""",
        f"CREATE TABLE {gold.name} ({columns})",
        "CREATE TABLE silver_dlq (exchange VARCHAR, topic VARCHAR, partition INTEGER,"
        ' "offset" BIGINT, reason_class VARCHAR, reason VARCHAR)',
    ]


def duckdb_transform_sql() -> list[str]:
    """Normalise + validate both raw tables into silver (with the refusal reason), refused rows
    into the DLQ, then MERGE the rest insert-if-absent into gold on (exchange, symbol, id)."""
    policy = DEFAULT_POLICY
    instruments = _sql_list(f"{e.value}|{s}" for e, s in sorted(policy.instruments))
    rfc3339 = (
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
        r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
    )
    gold = gold_table(DataType.TRADES)
    gold_columns = ", ".join(f'"{c.name}"' for c in gold.columns if c.name != "gold_updated_at")
    keys = " AND ".join(f't."{k}" = s."{k}"' for k in ("symbol", *gold.identifier_fields))
    binance_required = " OR ".join(
        f'"{f.name}" IS NULL' for f in fields(BinanceRawTrade) if f.name != "is_best_match"
    )
    kraken_required = " OR ".join(f'"{f.name}" IS NULL' for f in fields(KrakenRawTrade))
    # Every name and literal comes from the table definitions and the policy, none from input.
    silver = rf"""
CREATE TABLE silver_trades AS
WITH b AS (
  SELECT *, binance_quote(upper(symbol)) AS q, upper(symbol) AS up FROM raw_binance
), binance AS (
  SELECT 'binance' AS exchange, symbol AS exchange_symbol,
    asset(left(up, length(up) - length(q))) AS base_asset, asset(q) AS quote_asset,
    trade_id, trade_time AS ts_us, price AS price_text, quantity AS qty_text,
    CASE WHEN is_buyer_maker THEN 'SELL' ELSE 'BUY' END AS side,
    ingestion_timestamp AS ingestion_us, topic, partition, "offset",
    CASE
      WHEN {binance_required} THEN 'schema:incompatible_schema'
      WHEN NOT regexp_full_match(symbol, '[A-Za-z0-9]+') OR q IS NULL
        THEN 'normalise:unknown_symbol'
      WHEN decimal_reason(price) IS NOT NULL THEN 'normalise:' || decimal_reason(price)
      WHEN decimal_reason(quantity) IS NOT NULL THEN 'normalise:' || decimal_reason(quantity)
      WHEN trade_id < 0 THEN 'normalise:invalid_identifier'
      WHEN trade_time < 0 OR ingestion_timestamp < 0 THEN 'normalise:invalid_timestamp'
    END AS refusal
  FROM b
), k AS (
  SELECT *, string_split(symbol, '/') AS parts,
    epoch_us(TRY_CAST(upper("timestamp") AS TIMESTAMPTZ)) AS parsed_us
  FROM raw_kraken
), kraken AS (
  SELECT 'kraken' AS exchange, symbol AS exchange_symbol,
    asset(parts[1]) AS base_asset, asset(parts[2]) AS quote_asset,
    trade_id, parsed_us AS ts_us, price AS price_text, qty AS qty_text,
    upper(side) AS side, ingestion_timestamp AS ingestion_us, topic, partition, "offset",
    CASE
      WHEN {kraken_required} THEN 'schema:incompatible_schema'
      WHEN len(parts) <> 2 OR NOT regexp_full_match(parts[1], '[A-Za-z0-9]+')
        OR NOT regexp_full_match(parts[2], '[A-Za-z0-9]+') THEN 'normalise:unknown_symbol'
      WHEN NOT regexp_full_match("timestamp", '{rfc3339}')
        OR ltrim(regexp_extract("timestamp", '\.[0-9]{{6}}([0-9]*)', 1), '0') <> ''
        OR parsed_us IS NULL OR parsed_us < 0 THEN 'normalise:invalid_timestamp'
      WHEN decimal_reason(price) IS NOT NULL THEN 'normalise:' || decimal_reason(price)
      WHEN decimal_reason(qty) IS NOT NULL THEN 'normalise:' || decimal_reason(qty)
      WHEN upper(side) NOT IN ('BUY', 'SELL') THEN 'normalise:invalid_side'
      WHEN trade_id < 0 THEN 'normalise:invalid_identifier'
      WHEN ingestion_timestamp < 0 THEN 'normalise:invalid_timestamp'
    END AS refusal
  FROM k
), normalised AS (
  SELECT *, base_asset || quote_asset AS symbol,
    TRY_CAST(price_text AS DECIMAL(38,18)) AS price,
    TRY_CAST(qty_text AS DECIMAL(38,18)) AS quantity
  FROM (SELECT * FROM binance UNION ALL BY NAME SELECT * FROM kraken)
), checked AS (
  SELECT *, coalesce(refusal, CASE
      WHEN exchange || '|' || symbol NOT IN ({instruments}) THEN 'validate:unknown_symbol'
      WHEN price <= 0 THEN 'validate:non_positive_price'
      WHEN quantity <= 0 THEN 'validate:non_positive_quantity'
      WHEN ts_us < {policy.earliest_us} THEN 'validate:timestamp_before_earliest'
      WHEN ts_us - ingestion_us > {policy.future_tolerance_us}
        THEN 'validate:timestamp_in_future'
      WHEN ingestion_us - ts_us > {policy.max_age_us} THEN 'validate:timestamp_too_old'
      WHEN ingestion_us < {policy.earliest_us} THEN 'validate:timestamp_before_earliest'
    END) AS checked_refusal
  FROM normalised
)
SELECT
  CASE WHEN checked_refusal IS NULL
    THEN sha256(exchange || '|' || symbol || '|' || CAST(trade_id AS VARCHAR)) END AS message_id,
  exchange, symbol, exchange_symbol, base_asset, quote_asset, trade_id,
  CASE WHEN checked_refusal IS NULL THEN make_timestamp(ts_us)::TIMESTAMPTZ END AS "timestamp",
  price, quantity, side,
  CASE WHEN checked_refusal IS NULL
    THEN make_timestamp(ingestion_us)::TIMESTAMPTZ END AS ingestion_timestamp,
  topic, partition, "offset",
  split_part(checked_refusal, ':', 1) AS reason_class,
  split_part(checked_refusal, ':', 2) AS reason
FROM checked
"""  # noqa: S608
    return [
        silver,
        'INSERT INTO silver_dlq SELECT exchange, topic, partition, "offset", reason_class,'
        " reason FROM silver_trades WHERE reason IS NOT NULL",
        f"""
MERGE INTO {gold.name} t USING (
  SELECT {gold_columns}, now() AS gold_updated_at FROM silver_trades WHERE reason IS NULL
  QUALIFY row_number() OVER (
    PARTITION BY exchange, symbol, trade_id ORDER BY topic, partition, "offset") = 1
) s ON {keys}
WHEN NOT MATCHED THEN INSERT BY NAME
""",  # noqa: S608
    ]


@dataclass
class Baseline:
    kafka_s: float
    decode_s: float
    sql_s: float
    decode_refused: int
    silver_rows: int
    dlq_rows: int
    gold_rows: int
    python_silver_s: float

    @property
    def total_s(self) -> float:
        return self.kafka_s + self.decode_s + self.sql_s


def duckdb_baseline(
    settings: K2Settings, published: dict[Exchange, list[PublishedRecord]], folder: Path
) -> Baseline:
    lookup = registry_lookup(settings.aws_endpoint_url, settings.region)
    started = time.perf_counter()
    records = read_published(settings, published)
    kafka_s = time.perf_counter() - started

    started = time.perf_counter()
    decoded = {e: decode_to_arrow(records[e], RAW_SCHEMAS[e], lookup) for e in Exchange}
    decode_s = time.perf_counter() - started

    connection = duckdb.connect(str(folder / "baseline.duckdb"))
    try:
        for statement in duckdb_setup_sql():
            connection.execute(statement)
        connection.register("raw_binance", decoded[Exchange.BINANCE][0])
        connection.register("raw_kraken", decoded[Exchange.KRAKEN][0])
        started = time.perf_counter()
        for statement in duckdb_transform_sql():
            connection.execute(statement)
        connection.execute("CHECKPOINT")  # on disk, as Iceberg's commit is
        sql_s = time.perf_counter() - started
        counts = connection.execute(
            "SELECT (SELECT count(*) FROM silver_trades WHERE reason IS NULL),"
            " (SELECT count(*) FROM silver_dlq), (SELECT count(*) FROM gold_crypto_trades)"
        ).fetchone()
        assert counts is not None
    finally:
        connection.close()

    # Reference: silver's per-row Python (what Spark's mapInArrow runs) on the same values.
    started = time.perf_counter()
    for exchange, exchange_records in records.items():
        split_bronze_rows(
            (bronze_like(record) for record in exchange_records),
            exchange,
            DataType.TRADES,
            lookup,
        )
    python_silver_s = time.perf_counter() - started
    return Baseline(
        kafka_s=kafka_s,
        decode_s=decode_s,
        sql_s=sql_s,
        decode_refused=sum(refused for _, refused in decoded.values()),
        silver_rows=int(counts[0]),
        dlq_rows=int(counts[1]),
        gold_rows=int(counts[2]),
        python_silver_s=python_silver_s,
    )


def bronze_like(record: ConsumerRecord) -> dict[str, Any]:
    """A Kafka record as the bronze row silver reads (the schema version id left for the frame
    to say)."""
    return {
        "value": record.value,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "kafka_timestamp": record.timestamp,
        "schema_version_id": None,
    }


def throughput(settings: K2Settings, total: int) -> None:
    per_exchange = {Exchange.BINANCE: (total + 1) // 2, Exchange.KRAKEN: total // 2}
    warm_up = {e: max(1, min(2_000, n // 10)) for e, n in per_exchange.items()}
    exchanges = list(Exchange)
    # Ids above anything the simulator issues (its ids start near epoch milliseconds) and above
    # earlier runs of this bench, so every trade is new to gold and the MERGE inserts all of it.
    first_id = time.time_ns() // 1000
    print("\n== Throughput: bronze → silver → gold, availableNow, warm SparkSession ==")
    spark = build_spark_session("bench-medallion", settings)
    spark.sparkContext.setLogLevel("ERROR")  # the checkpoint manager warns on every query start
    publish(settings, warm_up, seed=7, first_id=first_id)
    started = time.perf_counter()
    warm = run_layers(spark, settings, exchanges)  # untimed: builds the session's code paths
    print(
        f"warm-up round (untimed): {warm.bronze_rows} backlog + warm-up trades, "
        f"{time.perf_counter() - started:.1f} s"
    )

    published = publish(settings, per_exchange, seed=11, first_id=first_id + 10**7)
    count = sum(len(records) for records in published.values())
    print(
        f"records: {count} trades ({per_exchange[Exchange.BINANCE]} Binance + "
        f"{per_exchange[Exchange.KRAKEN]} Kraken), {load()}"
    )
    spark_times = run_layers(spark, settings, exchanges)
    print(f"after the Spark runs: {load()}")
    spark.stop()
    checks = {
        "bronze rows": spark_times.bronze_rows,
        "silver rows": spark_times.silver_rows,
        "gold rows in": spark_times.gold_rows_in,
    }
    for name, value in checks.items():
        if value != count:
            print(f"  NOTE: {name} {value} != {count} published")
    if spark_times.dlq_rows:
        print(f"  NOTE: {spark_times.dlq_rows} rows went to silver_dlq")

    with tempfile.TemporaryDirectory(prefix="k2-bench-duckdb-") as folder:
        baseline = duckdb_baseline(settings, published, Path(folder))
    print(f"after the baseline: {load()}")

    print("\n  Spark (local[*], Iceberg on the Glue catalog, S3 on the local endpoint)")
    print(f"  {'layer':44} {'seconds':>8}  {'throughput':>20}")
    rows = [
        ("bronze: Kafka → bronze, 2 runs", spark_times.bronze_s),
        ("silver: bronze → silver + DLQ, 2 runs", spark_times.silver_s),
        ("gold: both silvers → MERGE into gold", spark_times.gold_s),
        ("end to end (sum of the three)", spark_times.total_s),
    ]
    for name, seconds in rows:
        print(f"  {name:44} {seconds:8.2f}  {rate(count, seconds)}")

    print("\n  Baseline: DuckDB over the same Kafka values, one process, one thread of Python")
    base_rows = [
        ("kafka-python read of the N values", baseline.kafka_s),
        ("Python decode (frame + fastavro) → Arrow", baseline.decode_s),
        ("DuckDB: normalise + validate + MERGE gold", baseline.sql_s),
        ("baseline end to end (sum of the three)", baseline.total_s),
    ]
    for name, seconds in base_rows:
        print(f"  {name:44} {seconds:8.2f}  {rate(count, seconds)}")
    print(
        f"  (DuckDB silver rows {baseline.silver_rows}, "
        f"DLQ {baseline.dlq_rows + baseline.decode_refused}, gold rows {baseline.gold_rows}; "
        "an on-disk DuckDB file holds silver,\n   DLQ and gold; nothing keeps the raw bytes as "
        "Spark's bronze does, and DuckDB's gold starts empty)"
    )
    ratio = baseline.total_s / spark_times.total_s
    print(
        f"\n  Spark / DuckDB, end to end:            {ratio:6.3f}x"
        f"  (Spark {spark_times.total_s / baseline.total_s:.1f}x slower)"
    )
    ratio_sql = (baseline.decode_s + baseline.sql_s) / (spark_times.silver_s + spark_times.gold_s)
    print(
        f"  Spark silver+gold / DuckDB decode+SQL: {ratio_sql:6.3f}x"
        "  (without the Kafka read and bronze)"
    )
    print(
        "  reference: silver's per-row Python step alone (silver_records.split_bronze_rows: "
        "decode + normalise + validate),\n"
        f"   single thread, same values: {rate(count, baseline.python_silver_s).strip()}; "
        "Spark's silver runs it in mapInArrow twice per row (the silver and the DLQ query)"
    )


# --- freshness -------------------------------------------------------------------------------


@dataclass
class TableWatcher:
    """Follows one Iceberg table commit by commit: which row keys each new snapshot made
    visible, read from the data files that snapshot added (exact for these append-only and
    insert-only tables). Polling asks Glue for the metadata location only."""

    glue: Any
    catalog: GlueCatalog
    database: str
    name: str
    key_columns: tuple[str, ...]
    location: str | None = None
    snapshots: set[int] = field(default_factory=set)
    visible: dict[tuple[Any, ...], int] = field(default_factory=dict)  # key → snapshot ms
    commits: list[int] = field(default_factory=list)  # timestamp_ms of each new snapshot
    reads_s: float = 0.0

    def metadata_location(self) -> str:
        table = self.glue.get_table(DatabaseName=self.database, Name=self.name)["Table"]
        return str(table["Parameters"]["metadata_location"])

    def prime(self) -> None:
        """Remember the snapshots the table has now; only later commits count."""
        self.location = self.metadata_location()
        table = self.catalog.load_table(f"{self.database}.{self.name}")
        self.snapshots = {snapshot.snapshot_id for snapshot in table.metadata.snapshots}

    def poll(self) -> int:
        """New snapshots since the last poll (0 when the metadata location did not move)."""
        location = self.metadata_location()
        if location == self.location:
            return 0
        started = time.perf_counter()
        self.location = location
        table = self.catalog.load_table(f"{self.database}.{self.name}")
        new = sorted(
            (s for s in table.metadata.snapshots if s.snapshot_id not in self.snapshots),
            key=lambda s: s.sequence_number or 0,
        )
        for snapshot in new:
            self.snapshots.add(snapshot.snapshot_id)
            self.commits.append(snapshot.timestamp_ms)
            self._read_added(table, snapshot)
        self.reads_s += time.perf_counter() - started
        return len(new)

    def _read_added(self, table: Table, snapshot: Snapshot) -> None:
        tasks = [
            FileScanTask(entry.data_file)
            for manifest in snapshot.manifests(table.io)
            if manifest.added_snapshot_id == snapshot.snapshot_id
            for entry in manifest.fetch_manifest_entry(table.io)
            if entry.status == ManifestEntryStatus.ADDED
            and entry.data_file.content == DataFileContent.DATA
        ]
        if not tasks:
            return
        projected = table.schema().select(*self.key_columns)
        arrow = ArrowScan(table.metadata, table.io, projected, AlwaysTrue()).to_table(tasks)
        columns = [arrow.column(name).to_pylist() for name in self.key_columns]
        for key in zip(*columns, strict=True):
            self.visible.setdefault(key, snapshot.timestamp_ms)


@dataclass(frozen=True)
class WindowTrade:
    exchange: Exchange
    key: TradeKey  # gold's key
    coordinates: tuple[str, int, int]  # Kafka topic, partition, offset: bronze's and silver's
    exchange_ms: float
    kafka_ms: int


def window_trades(
    settings: K2Settings, start: Offsets, since_us: int, until_us: int
) -> list[WindowTrade]:
    """Every trade the feeds published since ``start`` whose exchange time is in the window,
    decoded the way silver decodes it."""
    lookup = registry_lookup(settings.aws_endpoint_url, settings.region)
    exchanges = {raw_topic(DataType.TRADES, e): e for e in Exchange}
    trades = []
    for record in read_between(settings, start):
        exchange = exchanges[record.topic]
        result = decode_bronze_row(bronze_like(record), exchange, DataType.TRADES, lookup)
        if not isinstance(result, SilverRecord):
            continue
        row = result.row
        if since_us <= row["timestamp"] < until_us:
            trades.append(
                WindowTrade(
                    exchange,
                    (row["exchange"], row["symbol"], row["trade_id"]),
                    (record.topic, record.partition, record.offset),
                    row["timestamp"] / 1000,
                    record.timestamp,
                )
            )
    return trades


def poll_until(
    watchers: Sequence[TableWatcher],
    until: Callable[[], bool],
    deadline: float,
    alive: Callable[[], None],
) -> bool:
    while time.monotonic() < deadline:
        for watcher in watchers:
            watcher.poll()
        if until():
            return True
        alive()
        time.sleep(POLL_INTERVAL_S)
    return until()


def freshness(cloud: LocalCloud, settings: K2Settings, seconds: float, interval_s: int) -> None:
    layout = cloud.layout
    interval = f"{interval_s} seconds"
    print(
        f"\n== Freshness: continuous pipeline (python -m k2.jobs.pipeline --interval "
        f"'{interval}'), both feeds on the simulator =="
    )
    print(
        f"window {seconds:g} s after a warm-up of {WARM_UP_COMMITS} gold commits; each layer's "
        f"tables polled every {POLL_INTERVAL_S:g} s"
    )
    print(
        f"simulator: {layout.settings.simulator_rate:g} trades/s per exchange "
        f"(K2_LOCAL_SIMULATOR_RATE at `k2 local up`); {load()}"
    )
    environment = {
        **layout.client_environment(),
        # A feed handler resumes from its topic's last trade id; the throughput part publishes
        # ids far above the simulator's, so start from the live stream instead.
        "K2_FEED_RESUME_FROM_KAFKA": "false",
    }
    commands = {
        FEED_BINANCE: [sys.executable, "-m", "k2.cli", "feed", "--exchange", "binance"],
        FEED_KRAKEN: [sys.executable, "-m", "k2.cli", "feed", "--exchange", "kraken"],
        PIPELINE: [sys.executable, "-m", "k2.jobs.pipeline", "--interval", interval],
    }
    glue, catalog, database = (
        layout.aws_client("glue"),
        glue_catalog(settings),
        settings.glue_database,
    )
    coordinates = ("topic", "partition", "offset")
    bronze = {
        e: TableWatcher(glue, catalog, database, bronze_table(e, DataType.TRADES).name, coordinates)
        for e in Exchange
    }
    silver = {
        e: TableWatcher(
            glue,
            catalog,
            database,
            silver_table(e, DataType.TRADES).name,
            tuple(f"source_{name}" for name in coordinates),
        )
        for e in Exchange
    }
    gold = TableWatcher(
        glue,
        catalog,
        database,
        gold_table(DataType.TRADES).name,
        ("exchange", "symbol", "trade_id"),
    )
    watchers = [*bronze.values(), *silver.values(), gold]
    started: list[str] = []
    try:
        for component, command in commands.items():
            cloud.process(component).start(command, env=environment)
            started.append(component)

        def alive() -> None:
            for component in started:
                process = cloud.process(component)
                if not process.is_running():
                    raise RuntimeError(
                        f"{component} exited; last log lines ({process.log_file}):\n"
                        f"{process.last_log_lines(20)}"
                    )

        launched = time.monotonic()
        for watcher in watchers:  # on a new cloud the pipeline creates the tables
            while True:
                try:
                    watcher.prime()
                    break
                except Exception:  # not created yet
                    alive()
                    if time.monotonic() - launched > WARM_UP_TIMEOUT_S:
                        raise
                    time.sleep(1.0)
        if not poll_until(
            watchers,
            lambda: len(gold.commits) >= WARM_UP_COMMITS,
            launched + WARM_UP_TIMEOUT_S,
            alive,
        ):
            raise TimeoutError(f"no {WARM_UP_COMMITS} gold commits in {WARM_UP_TIMEOUT_S:.0f} s")
        print(
            f"warm-up: {time.monotonic() - launched:.0f} s from launch to the "
            f"{WARM_UP_COMMITS}nd gold commit"
        )

        topics = [raw_topic(DataType.TRADES, e) for e in Exchange]
        start = end_offsets(settings, topics)
        since_us = time.time_ns() // 1000
        commits_before = len(gold.commits)
        poll_until(watchers, lambda: False, time.monotonic() + seconds, alive)
        until_us = time.time_ns() // 1000
        time.sleep(2.0)  # the handlers' last sends of the window reach Kafka
        made = window_trades(settings, start, since_us, until_us)
        drain_s = max(120.0, 10 * interval_s)
        drain_started = time.monotonic()
        poll_until(
            watchers,
            lambda: all(t.key in gold.visible for t in made),
            drain_started + drain_s,
            alive,
        )
        drained_s = time.monotonic() - drain_started
        print(f"at the end of the drain: {load()}")
    finally:
        for component in reversed(started):
            cloud.process(component).stop()

    in_gold = sum(1 for t in made if t.key in gold.visible)
    window_commits = [ms for ms in gold.commits[commits_before:] if ms <= until_us // 1000]
    gaps = sorted(b - a for a, b in itertools.pairwise(window_commits))
    print(
        f"window: {seconds:g} s; trades published with an exchange time in it (read back from "
        f"Kafka): {len(made)}; visible in gold {in_gold}, after a drain of {drained_s:.0f} s "
        f"(limit {drain_s:.0f} s)"
        + (f"; NOT visible: {len(made) - in_gold}" if in_gold < len(made) else "")
    )
    print(
        f"gold commits during the window: {len(window_commits)}"
        + (f", median gap {gaps[len(gaps) // 2] / 1000:.1f} s" if gaps else "")
        + f"; the watcher spent {sum(w.reads_s for w in watchers):.1f} s reading new snapshots"
    )
    print("\n  time from the trade's exchange timestamp until it is visible in ...")
    print(f"  {'trades':8} {'':40} {'p50':>11} {'p99':>11} {'max':>11} {'trades':>7}")

    def line(label: str, what: str, values: list[float]) -> None:
        print(f"  {label:8} {what:40} {summary(values)}")

    def layer(
        trades: list[WindowTrade], watcher: Callable[[WindowTrade], TableWatcher], coordinates: bool
    ) -> list[float]:
        delays = []
        for trade in trades:
            key = trade.coordinates if coordinates else trade.key
            seen = watcher(trade).visible.get(key)
            if seen is not None:
                delays.append(seen - trade.exchange_ms)
        return delays

    for label, chosen in (
        ("all", made),
        *((e.value, [t for t in made if t.exchange is e]) for e in Exchange),
    ):
        line(
            label,
            "baseline: Kafka (feed lag, CreateTime)",
            [t.kafka_ms - t.exchange_ms for t in chosen],
        )
        if label == "all":
            line(
                label, "bronze (snapshot commit)", layer(chosen, lambda t: bronze[t.exchange], True)
            )
            line(
                label, "silver (snapshot commit)", layer(chosen, lambda t: silver[t.exchange], True)
            )
        line(label, "gold (snapshot commit) = freshness", layer(chosen, lambda t: gold, False))


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="0 skips the throughput")
    parser.add_argument(
        "--freshness-seconds", type=float, default=120.0, help="0 skips the freshness part"
    )
    parser.add_argument(
        "--interval",
        type=int,
        default=30,
        help="the pipeline's processing-time trigger in seconds (30: `k2 local up --pipeline`)",
    )
    args = parser.parse_args()
    cloud = LocalCloud()
    running = [c for c in PIPELINE_COMPONENTS if cloud.process(c).is_running()]
    if running:
        sys.exit(f"stop {', '.join(running)} first (`k2 local down`, then `k2 local up`)")
    cloud.layout.export_client_environment()
    settings = cloud.layout.client_settings()
    print(
        f"K2 medallion bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, local cloud "
        f"{cloud.layout.root} (AWS {cloud.layout.aws_endpoint_url}, Kafka "
        f"{cloud.layout.kafka_bootstrap_servers}); {load()}"
    )
    if args.freshness_seconds > 0:
        freshness(cloud, settings, args.freshness_seconds, args.interval)
    if args.records > 0:
        throughput(settings, args.records)


if __name__ == "__main__":
    main()
