"""The bronze slice: Kafka → Spark bronze job → Iceberg → pyiceberg → DuckDB."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from k2.aws import aws_client
from k2.domain.markets import DataType, Exchange, raw_topic
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.topic_reader import end_offsets, tail_offsets
from k2.lake.catalog import glue_catalog
from k2.lake.tables import bronze_table
from k2.local.binance_trade_generator import binance_trades, publish_binance_trades
from k2.query.lake_reader import duckdb_over, read_table
from k2.settings import K2Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.integration

RECORDS = 600
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TIMESTAMP_FIELDS = {"event_time", "trade_time", "ingestion_timestamp"}


def _as_decoded(generated: dict[str, Any]) -> dict[str, Any]:
    """Avro timestamp-micros fields come back as aware datetimes."""
    return {
        key: EPOCH + timedelta(microseconds=value) if key in TIMESTAMP_FIELDS else value
        for key, value in generated.items()
    }


def _bronze_rows(settings: K2Settings) -> list[tuple[int, int, bytes, str | None]]:
    identifier = bronze_table(Exchange.BINANCE, DataType.TRADES).identifier(settings.glue_database)
    arrow = read_table(
        glue_catalog(settings), identifier, ["partition", "offset", "value", "schema_version_id"]
    )
    connection = duckdb_over({"bronze": arrow})
    rows = connection.execute(
        'SELECT partition, "offset", value, schema_version_id FROM bronze ORDER BY 1, 2'
    ).fetchall()
    return [(int(p), int(o), bytes(v), s) for p, o, v, s in rows]


def test_bronze_holds_exactly_the_published_records_and_a_rerun_adds_nothing(
    spark: SparkSession, k2_settings: K2Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    from glue_jobs import bronze as bronze_entry_point

    generated = binance_trades(RECORDS, seed=7)
    published = publish_binance_trades(k2_settings, generated)
    # Other tests of the session (the feed handlers) write to the same topic: bronze must hold
    # every record the topic holds, ours among them.
    topic = [raw_topic(DataType.TRADES, Exchange.BINANCE)]
    first = tail_offsets(k2_settings, topic, 2**62)
    end = end_offsets(k2_settings, topic)
    in_topic = sorted((tp.partition, o) for tp in end for o in range(first[tp], end[tp]))

    bronze_entry_point.main(["--exchange", "binance", "--data-type", "trades", "--JOB_NAME", "t"])
    first_run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = _bronze_rows(k2_settings)

    assert first_run["rows_appended"] == len(in_topic) >= RECORDS
    assert [(p, o) for p, o, _, _ in rows] == in_topic

    # Every value decodes with the schema version named in bronze; ours, to the record generated.
    registry = GlueSchemaRegistry(aws_client("glue", k2_settings), k2_settings.schema_registry_name)
    by_coordinates = {(r.partition, r.offset): g for r, g in zip(published, generated, strict=True)}
    for partition, offset, value, version in rows:
        version_id, record = registry.deserialize(value)
        assert UUID(version or "") == version_id
        if (partition, offset) in by_coordinates:
            assert record == _as_decoded(by_coordinates[(partition, offset)])

    bronze_entry_point.main(["--exchange", "binance"])
    second_run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second_run["rows_appended"] == 0
    assert _bronze_rows(k2_settings) == rows


def test_bronze_table_matches_its_one_definition(
    spark: SparkSession, k2_settings: K2Settings
) -> None:
    definition = bronze_table(Exchange.BINANCE, DataType.TRADES)
    spark.sql(definition.spark_ddl(k2_settings.glue_database))
    table = glue_catalog(k2_settings).load_table(definition.identifier(k2_settings.glue_database))

    expected = definition.iceberg_schema()
    actual = table.schema()
    assert [(f.name, f.field_type, f.required) for f in actual.fields] == [
        (f.name, f.field_type, f.required) for f in expected.fields
    ]
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [
        ("kafka_timestamp_day", "day")
    ]
    for key, value in definition.all_properties.items():
        if key != "format-version":  # a table property Iceberg keeps in metadata, not properties
            assert table.properties[key] == value
    assert table.format_version == 2
