"""The K2 tables, each defined once: bronze, silver (+ its DLQ) and gold.

Layout choices (the reasons live next to each definition):

* bronze ``bronze_{exchange}_{trades|quotes}``: days(kafka_timestamp); append-only.
* silver ``silver_{exchange}_{trades|quotes}``: days(timestamp) for trades,
  days(ingestion_timestamp) for quotes (a quote may carry no exchange time); append-only.
* DLQ ``silver_dlq``: days(detected_at); append-only.
* gold ``gold_crypto_{trades|quotes}``: days(time), identity(symbol); sorted; written by MERGE,
  so merge-on-read.
* bars ``gold_ohlcv_{1m|5m|30m|1h|1d}``: time partitions sized to the timeframe; sorted; written
  by MERGE (a window is replaced when it changes), so merge-on-read.

The trade and quote columns are ``trade_v2`` / ``quote_v2`` (``schemas/*.avsc``,
``k2.domain.trade`` / ``k2.domain.quote``) column for column; ``tests/lake/test_tables.py`` checks
them against the Avro schemas so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

from pyiceberg.transforms import (
    DayTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    YearTransform,
)
from pyiceberg.types import (
    BinaryType,
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    TimestamptzType,
)

from k2.domain.decimals import PRECISION, SCALE
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.domain.ohlcv import Timeframe
from k2.lake.table_definition import (
    MERGE_ON_READ_PROPERTIES,
    Column,
    Partition,
    SortKey,
    TableDefinition,
)

EXACT = DecimalType(PRECISION, SCALE)  # decimal(38, 18): see k2.domain.decimals

# --- bronze ----------------------------------------------------------------------------------

BRONZE_COLUMNS = (
    Column("key", BinaryType(), False, "Kafka record key: the normalised symbol"),
    Column(
        "value",
        BinaryType(),
        False,
        "Kafka record value (Glue Schema Registry framed Avro); null only for a tombstone",
    ),
    Column("topic", StringType(), True, "Kafka topic"),
    Column("partition", IntegerType(), True, "Kafka partition"),
    Column("offset", LongType(), True, "Kafka offset; (topic, partition, offset) is unique"),
    Column("kafka_timestamp", TimestamptzType(), True, "Kafka record timestamp (UTC)"),
    Column(
        "schema_version_id",
        StringType(),
        False,
        "Glue Schema Registry schema version id from the value's header; null if unframed",
    ),
    Column("ingested_at", TimestamptzType(), True, "When bronze appended the record (UTC)"),
)


def bronze_table(exchange: Exchange, data_type: DataType) -> TableDefinition:
    return TableDefinition(
        name=f"bronze_{exchange}_{data_type}",
        columns=BRONZE_COLUMNS,
        partitions=(Partition("kafka_timestamp", DayTransform()),),
        doc=f"Every Kafka value of {raw_topic(data_type, exchange)}, unchanged",
    )


# --- trade_v2 / quote_v2 ---------------------------------------------------------------------

_INSTRUMENT_COLUMNS = (
    Column("exchange", StringType(), True, "Exchange, lower case: 'binance' or 'kraken'"),
    Column(
        "symbol",
        StringType(),
        True,
        "Normalised symbol: base+quote without separator, XBT->BTC, XDG->DOGE (e.g. BTCUSD)",
    ),
    Column(
        "exchange_symbol",
        StringType(),
        True,
        "The exchange's own spelling of the symbol (e.g. BTCUSDT, BTC/USD)",
    ),
    Column("base_asset", StringType(), True, "Base asset, normalised (e.g. BTC)"),
    Column("quote_asset", StringType(), True, "Quote asset: the currency prices are quoted in"),
)

TRADE_V2_COLUMNS = (
    Column(
        "message_id",
        StringType(),
        True,
        "sha256 hex of 'exchange|symbol|trade_id': deterministic, the same on every replay",
    ),
    *_INSTRUMENT_COLUMNS,
    Column(
        "trade_id",
        LongType(),
        True,
        "The exchange's own trade id (Binance t, Kraken v2 trade_id), sequential per symbol",
    ),
    Column("timestamp", TimestamptzType(), True, "Exchange execution time (UTC, microseconds)"),
    Column("price", EXACT, True, "Execution price in the quote asset, exact decimal(38,18)"),
    Column("quantity", EXACT, True, "Executed quantity in the base asset, exact decimal(38,18)"),
    Column("side", StringType(), True, "The taker's (aggressor's) side: 'BUY' or 'SELL'"),
    Column(
        "ingestion_timestamp",
        TimestamptzType(),
        True,
        "When the feed handler received the frame (UTC, microseconds)",
    ),
)

QUOTE_V2_COLUMNS = (
    Column(
        "message_id",
        StringType(),
        True,
        "sha256 hex of 'exchange|symbol|quote:<key>' (key = the exchange's update id, else time "
        "and values): deterministic, the same on every replay",
    ),
    *_INSTRUMENT_COLUMNS,
    Column(
        "update_id",
        LongType(),
        False,
        "The exchange's order-book update id (Binance u); null when it sends none (Kraken)",
    ),
    Column(
        "exchange_timestamp",
        TimestamptzType(),
        False,
        "Exchange time of the update (UTC); null when it sends none (Binance spot bookTicker)",
    ),
    Column("bid_price", EXACT, True, "Best bid price in the quote asset, exact decimal(38,18)"),
    Column("bid_quantity", EXACT, True, "Quantity at the best bid, in the base asset"),
    Column("ask_price", EXACT, True, "Best ask price in the quote asset, exact decimal(38,18)"),
    Column("ask_quantity", EXACT, True, "Quantity at the best ask, in the base asset"),
    Column(
        "ingestion_timestamp",
        TimestamptzType(),
        True,
        "When the feed handler received the frame (UTC, microseconds)",
    ),
)

V2_COLUMNS = {DataType.TRADES: TRADE_V2_COLUMNS, DataType.QUOTES: QUOTE_V2_COLUMNS}

# The time a row is partitioned on: a trade always has its execution time; a quote's exchange
# time is optional (Binance bookTicker has none), and a partition source must always be set.
PARTITION_TIME = {DataType.TRADES: "timestamp", DataType.QUOTES: "ingestion_timestamp"}

# --- silver ----------------------------------------------------------------------------------

SILVER_LINEAGE_COLUMNS = (
    Column("source_topic", StringType(), True, "Kafka topic of the bronze record"),
    Column("source_partition", IntegerType(), True, "Kafka partition of the bronze record"),
    Column(
        "source_offset",
        LongType(),
        True,
        "Kafka offset of the bronze record; (source_topic, source_partition, source_offset) "
        "is unique",
    ),
    Column(
        "schema_version_id",
        StringType(),
        True,
        "Glue Schema Registry schema version the value was decoded with (the writer's schema)",
    ),
    Column("silver_ingested_at", TimestamptzType(), True, "When silver appended the row (UTC)"),
)


def silver_table(exchange: Exchange, data_type: DataType) -> TableDefinition:
    """Decoded, normalised, validated rows of one bronze table, plus where each came from.

    Append-only and unsorted: a stream appends every few seconds, and a sort would cost each
    micro-batch for readers (the gold job, incremental by snapshot) that do not need it.
    """
    record = "trade_v2" if data_type is DataType.TRADES else "quote_v2"
    return TableDefinition(
        name=f"silver_{exchange}_{data_type}",
        columns=(*V2_COLUMNS[data_type], *SILVER_LINEAGE_COLUMNS),
        partitions=(Partition(PARTITION_TIME[data_type], DayTransform()),),
        doc=(
            f"{exchange.capitalize()} {data_type} as {record}, decoded from "
            f"bronze_{exchange}_{data_type} with the writer's schema and validated; append-only"
        ),
    )


# --- silver DLQ ------------------------------------------------------------------------------

SILVER_DLQ_COLUMNS = (
    Column(
        "source_table",
        StringType(),
        True,
        "The bronze table the record came from (e.g. bronze_binance_trades)",
    ),
    Column("topic", StringType(), True, "Kafka topic of the bronze record"),
    Column("partition", IntegerType(), True, "Kafka partition of the bronze record"),
    Column(
        "offset",
        LongType(),
        True,
        "Kafka offset of the bronze record; with topic and partition, where to replay it from",
    ),
    Column("kafka_timestamp", TimestamptzType(), True, "Kafka record timestamp (UTC)"),
    Column(
        "raw_value",
        BinaryType(),
        False,
        "The Kafka value exactly as bronze holds it (framed Avro); null only for a tombstone",
    ),
    Column(
        "schema_version_id",
        StringType(),
        False,
        "Glue Schema Registry schema version id from the value's header; null if unframed",
    ),
    Column(
        "reason_class",
        StringType(),
        True,
        "Reason taxonomy, coarse: which stage refused the record (e.g. decode, schema, validation)",
    ),
    Column(
        "reason",
        StringType(),
        True,
        "Reason taxonomy, fine: a stable, countable code (e.g. decimal_out_of_range)",
    ),
    Column("message", StringType(), False, "Human-readable detail of the failure"),
    Column("exchange", StringType(), True, "Exchange of the source table: 'binance' or 'kraken'"),
    Column("data_type", StringType(), True, "Data type of the source table: 'trades' or 'quotes'"),
    Column("detected_at", TimestamptzType(), True, "When silver refused the record (UTC)"),
)


def silver_dlq_table() -> TableDefinition:
    """Every bronze record silver could not accept, with its raw bytes and a reason.

    Partitioned by day only: the DLQ is small (a healthy day adds a handful of rows), so a
    partition per source table and day would mostly hold tiny files; queries filter by day and
    reason, and ``source_table``/``exchange`` prune through column statistics.
    """
    return TableDefinition(
        name="silver_dlq",
        columns=SILVER_DLQ_COLUMNS,
        partitions=(Partition("detected_at", DayTransform()),),
        doc=(
            "Bronze records the silver jobs refused (undecodable or invalid), with the raw value "
            "and a reason; nothing is dropped silently"
        ),
    )


# --- gold ------------------------------------------------------------------------------------

GOLD_UPDATED_AT = Column(
    "gold_updated_at", TimestamptzType(), True, "When the gold MERGE last wrote the row (UTC)"
)


def _gold_table(
    data_type: DataType, sort_order: tuple[SortKey, ...], identifier_fields: tuple[str, ...]
) -> TableDefinition:
    """Gold is what the API, Athena and the OHLCV job read: every question names a symbol and
    a time range. So partition by day and by symbol (identity: a few dozen symbols, readable
    partition values, exact pruning for ``symbol = ...`` and for the MERGE's runtime filter on
    symbol), not by exchange (two values prune little, and the symbol mostly implies it). Within
    a partition rows are sorted by time, so time-range reads skip row groups.

    Written by MERGE: merge-on-read keeps each MERGE to new data files plus position deletes
    instead of rewriting every touched file; compaction folds the deletes in.
    """
    time = PARTITION_TIME[data_type]
    return TableDefinition(
        name=f"gold_crypto_{data_type}",
        columns=(*V2_COLUMNS[data_type], GOLD_UPDATED_AT),
        partitions=(Partition(time, DayTransform()), Partition("symbol", IdentityTransform())),
        properties=dict(MERGE_ON_READ_PROPERTIES),
        sort_order=sort_order,
        identifier_fields=identifier_fields,
        doc=(
            f"Crypto {data_type} of every exchange, one row per {data_type[:-1]} (MERGE on "
            f"{', '.join(identifier_fields)}): no duplicates across replays"
        ),
    )


def gold_trades_table() -> TableDefinition:
    return _gold_table(
        DataType.TRADES,
        sort_order=(SortKey("symbol"), SortKey("timestamp"), SortKey("trade_id")),
        identifier_fields=("exchange", "symbol", "trade_id"),
    )


def gold_quotes_table() -> TableDefinition:
    # A quote's id is message_id (a hash of exchange, symbol and the update's key); its time
    # is ingestion_timestamp, the one time every quote has.
    return _gold_table(
        DataType.QUOTES,
        sort_order=(SortKey("symbol"), SortKey("ingestion_timestamp")),
        identifier_fields=("message_id",),
    )


# --- OHLCV bars ------------------------------------------------------------------------------

OHLCV_CREATED_AT = Column("created_at", TimestamptzType(), False, "When the bar was first written")
OHLCV_UPDATED_AT = Column(
    "updated_at",
    TimestamptzType(),
    False,
    "When the bar was last replaced (a late trade, a backfill)",
)
OHLCV_COLUMNS = (
    Column("exchange", StringType(), True, "Exchange name (binance, kraken)"),
    Column("symbol", StringType(), True, "Normalised symbol (e.g. BTCUSDT)"),
    Column(
        "window_start", TimestamptzType(), True, "Window start, inclusive, aligned to the UTC epoch"
    ),
    Column("window_end", TimestamptzType(), True, "Window end, exclusive"),
    Column("open", EXACT, True, "Price of the window's first trade by (timestamp, trade_id)"),
    Column("high", EXACT, True, "Highest trade price in the window"),
    Column("low", EXACT, True, "Lowest trade price in the window"),
    Column("close", EXACT, True, "Price of the window's last trade by (timestamp, trade_id)"),
    Column("volume", EXACT, True, "Sum of trade quantities, exact"),
    Column("notional", EXACT, True, "Sum of price x quantity over the window's trades, exact"),
    Column("vwap", EXACT, True, "notional / volume, rounded half up at 18 decimal places"),
    Column("trade_count", LongType(), True, "Number of trades in the window"),
    Column("first_trade_id", LongType(), True, "Exchange trade id of the window's first trade"),
    Column("first_trade_time", TimestamptzType(), True, "Exchange time of the first trade"),
    Column("last_trade_id", LongType(), True, "Exchange trade id of the window's last trade"),
    Column("last_trade_time", TimestamptzType(), True, "Exchange time of the last trade"),
    OHLCV_CREATED_AT,
    OHLCV_UPDATED_AT,
)

# Partitions sized so each holds a useful amount of bars (one row per exchange, symbol and
# window): a day of 1m bars is 1,440 rows a symbol, a year of 1d bars 365. The API's range reads
# prune by time; within a partition the sort by symbol lets Parquet statistics skip the rest.
# Retention deletes whole partitions where it can (1m at day granularity).
_OHLCV_PARTITION: dict[Timeframe, Transform[Any, Any]] = {
    Timeframe.ONE_MINUTE: DayTransform(),
    Timeframe.FIVE_MINUTES: MonthTransform(),
    Timeframe.THIRTY_MINUTES: MonthTransform(),
    Timeframe.ONE_HOUR: YearTransform(),
    Timeframe.ONE_DAY: YearTransform(),
}


def ohlcv_table(timeframe: Timeframe) -> TableDefinition:
    """Bars of one timeframe (``k2.domain.ohlcv`` defines them); the OHLCV job MERGEs whole
    windows in, replacing a window when a late trade changes it, so merge-on-read."""
    return TableDefinition(
        name=f"gold_ohlcv_{timeframe}",
        columns=OHLCV_COLUMNS,
        partitions=(Partition("window_start", _OHLCV_PARTITION[timeframe]),),
        properties=dict(MERGE_ON_READ_PROPERTIES),
        sort_order=(SortKey("symbol"), SortKey("exchange"), SortKey("window_start")),
        identifier_fields=("exchange", "symbol", "window_start"),
        doc=(
            f"{timeframe} OHLCV bars per exchange and symbol, computed from gold_crypto_trades; "
            "one row per (exchange, symbol, window_start)"
        ),
    )


def all_tables() -> list[TableDefinition]:
    """Every K2 table, in creation order: bronze, silver, the DLQ, gold, the bars."""
    pairs = [(exchange, data_type) for exchange in Exchange for data_type in DataType]
    return [
        *(bronze_table(exchange, data_type) for exchange, data_type in pairs),
        *(silver_table(exchange, data_type) for exchange, data_type in pairs),
        silver_dlq_table(),
        gold_trades_table(),
        gold_quotes_table(),
        *(ohlcv_table(timeframe) for timeframe in Timeframe),
    ]
