"""``k2 replay``: silver and gold rebuilt from bronze, identical to what the streams wrote."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from k2.domain.markets import DataType, Exchange, raw_topic
from k2.jobs.bronze import run_bronze
from k2.jobs.gold import gold_table, run_gold
from k2.jobs.replay import KafkaPosition, replay
from k2.jobs.silver import run_silver
from k2.lake.tables import silver_table
from k2.local.binance_trade_generator import binance_trades, publish_binance_trades
from k2.settings import K2Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration

BUSINESS_COLUMNS = (
    "message_id, exchange, symbol, exchange_symbol, trade_id, timestamp, price, quantity, side,"
    " ingestion_timestamp"
)


def _rows(spark: SparkSession, table: str, first_id: int, count: int) -> list[tuple[Any, ...]]:
    rows = spark.sql(
        f"SELECT {BUSINESS_COLUMNS} FROM {table} WHERE symbol = 'BTCUSDT' "
        f"AND trade_id BETWEEN {first_id} AND {first_id + count} ORDER BY trade_id"
    ).collect()
    return [tuple(row) for row in rows]


def test_replay_changes_nothing_and_restores_what_was_lost(
    spark: SparkSession, k2_settings: K2Settings
) -> None:
    first_id = random.randrange(10**12, 2 * 10**12)
    since = datetime.now(tz=UTC) - timedelta(seconds=5)
    publish_binance_trades(
        k2_settings, binance_trades(200, seed=3, symbols=("BTCUSDT",), first_id=first_id)
    )
    run_bronze(spark, k2_settings, Exchange.BINANCE, DataType.TRADES)
    run_silver(spark, k2_settings, Exchange.BINANCE, DataType.TRADES)
    run_gold(spark, k2_settings, DataType.TRADES)
    database = k2_settings.glue_database
    silver = silver_table(Exchange.BINANCE, DataType.TRADES).spark_identifier(database)
    gold = gold_table(DataType.TRADES).spark_identifier(database)
    streamed_silver = _rows(spark, silver, first_id, 200)
    streamed_gold = _rows(spark, gold, first_id, 200)
    assert len(streamed_silver) == len(streamed_gold) == 200
    # Where the 101st trade sits in Kafka, for the replay from offsets below.
    topic = raw_topic(DataType.TRADES, Exchange.BINANCE)
    [(partition, offset)] = spark.sql(
        f"SELECT source_partition, source_offset FROM {silver} "
        f"WHERE symbol = 'BTCUSDT' AND trade_id = {first_id + 100}"
    ).collect()

    scope: dict[str, Any] = {"exchanges": (Exchange.BINANCE,), "data_types": (DataType.TRADES,)}
    [result] = replay(spark, k2_settings, since, **scope)
    assert result.silver_rows >= 200
    assert _rows(spark, silver, first_id, 200) == streamed_silver
    assert _rows(spark, gold, first_id, 200) == streamed_gold

    lost = f"symbol = 'BTCUSDT' AND trade_id BETWEEN {first_id + 50} AND {first_id + 149}"
    spark.sql(f"DELETE FROM {silver} WHERE {lost}")
    spark.sql(f"DELETE FROM {gold} WHERE {lost}")
    assert len(_rows(spark, gold, first_id, 200)) == 100

    # From Kafka offsets: the partition holding the lost trades, from the offset of the 101st;
    # trades 50-99 stay lost, 100-149 come back.
    replay(spark, k2_settings, [KafkaPosition(topic, partition, offset)], **scope)
    restored = {row[4] - first_id for row in _rows(spark, gold, first_id, 200)}
    assert restored == set(range(50)) | set(range(100, 200))

    replay(spark, k2_settings, since, **scope)
    assert _rows(spark, silver, first_id, 200) == streamed_silver
    assert _rows(spark, gold, first_id, 200) == streamed_gold
