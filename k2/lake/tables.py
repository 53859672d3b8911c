"""The K2 tables. Bronze first: the replayable audit record of every Kafka value."""

from __future__ import annotations

from pyiceberg.transforms import DayTransform
from pyiceberg.types import BinaryType, IntegerType, LongType, StringType, TimestamptzType

from k2.domain.markets import DataType, Exchange
from k2.lake.table_definition import Column, Partition, TableDefinition

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
        doc=f"Every Kafka value of market.crypto.{data_type}.{exchange}.raw, unchanged",
    )


def all_tables() -> list[TableDefinition]:
    return [bronze_table(exchange, data_type) for exchange in Exchange for data_type in DataType]
