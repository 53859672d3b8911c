"""Every record type round-trips through fastavro with the schema in schemas/ it names."""

import io
import json
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from k2.domain.quote import QuoteV2
from k2.domain.trade import TradeV2
from k2.feeds import binance, kraken
from k2.feeds.avro_records import AvroRecord, avro_record, schema_name
from k2.feeds.avro_schemas import parse_schema, schema_definition
from k2.feeds.binance import BinanceRawQuote, BinanceRawTrade
from k2.feeds.kraken import KrakenRawQuote, KrakenRawTrade
from tests.fixtures.exchanges.fixture_frames import fixture_frame

pytestmark = pytest.mark.unit

RECEIVED = 1737500000530000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def frame(path: str) -> bytes:
    exchange, name = path.split("/")
    return fixture_frame(exchange, name)


def micros(value: object) -> object:
    """fastavro reads timestamp-micros back as datetimes; compare them as integer micros."""
    if isinstance(value, datetime):
        return (value - EPOCH) // (datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC) - EPOCH)
    return value


def round_trip(record: AvroRecord) -> dict[str, Any]:
    schema = parse_schema(schema_definition(schema_name(record)))
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, avro_record(record))
    decoded = fastavro.schemaless_reader(io.BytesIO(buffer.getvalue()), schema, None)
    assert isinstance(decoded, dict)
    return {key: micros(value) for key, value in decoded.items()}


def records() -> list[AvroRecord]:
    (b_trade,) = binance.parse_frame(
        frame("binance/trade_combined_micros.frame"), received_at_us=RECEIVED
    ).trades
    (b_quote,) = binance.parse_frame(
        frame("binance/book_ticker_doc_example.frame"), received_at_us=RECEIVED
    ).quotes
    k_trades = kraken.parse_frame(
        frame("kraken/trade_update_batch.frame"), received_at_us=RECEIVED
    ).trades
    (k_quote,) = kraken.parse_frame(
        frame("kraken/ticker_snapshot.frame"), received_at_us=RECEIVED
    ).quotes
    (k_quote_bare,) = kraken.parse_frame(
        frame("kraken/ticker_update_without_timestamp.frame"), received_at_us=RECEIVED
    ).quotes
    return [
        b_trade,
        b_quote,
        *k_trades,
        k_quote,
        k_quote_bare,
        binance.to_trade_v2(b_trade),
        binance.to_quote_v2(b_quote),
        *(kraken.to_trade_v2(t) for t in k_trades),
        kraken.to_quote_v2(k_quote),
    ]


@pytest.mark.parametrize("record", records(), ids=lambda r: type(r).__name__)
def test_round_trip(record: AvroRecord) -> None:
    decoded = round_trip(record)
    expected = avro_record(record)
    assert decoded.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, Decimal):
            assert decoded[key] == value  # equal in value; Avro stores it at scale 18
            assert decoded[key].as_tuple().exponent == -18
        else:
            assert decoded[key] == value, key


@pytest.mark.parametrize(
    ("cls", "name"),
    [
        (BinanceRawTrade, "binance_raw_trade"),
        (BinanceRawQuote, "binance_raw_quote"),
        (KrakenRawTrade, "kraken_raw_trade"),
        (KrakenRawQuote, "kraken_raw_quote"),
        (TradeV2, "trade_v2"),
        (QuoteV2, "quote_v2"),
    ],
)
def test_schema_fields_are_the_dataclass_fields_in_order(cls: type, name: str) -> None:
    schema = json.loads(schema_definition(name))
    assert [f["name"] for f in schema["fields"]] == [f.name for f in fields(cls)]


def test_the_published_binance_raw_trade_schema_keeps_its_fields() -> None:
    """The running slice writes this schema; its fields may gain docs, never change."""
    schema = json.loads(schema_definition("binance_raw_trade"))
    assert schema["name"] == "BinanceRawTrade"
    assert schema["namespace"] == "io.k2.marketdata.raw"
    assert [f["name"] for f in schema["fields"]] == [
        "event_type", "event_time", "symbol", "trade_id", "price", "quantity", "trade_time",
        "is_buyer_maker", "is_best_match", "ingestion_timestamp",
    ]  # fmt: skip


def test_normalised_schemas_use_decimal_38_18() -> None:
    for name in ("trade_v2", "quote_v2"):
        schema = json.loads(schema_definition(name))
        decimals = [f["type"] for f in schema["fields"] if isinstance(f["type"], dict)
                    and f["type"].get("logicalType") == "decimal"]  # fmt: skip
        assert decimals
        assert all((d["precision"], d["scale"]) == (38, 18) for d in decimals)


def test_trade_v2_avro_dict_values() -> None:
    (raw,) = binance.parse_frame(
        frame("binance/trade_combined_micros.frame"), received_at_us=RECEIVED
    ).trades
    values = avro_record(binance.to_trade_v2(raw))
    assert values["exchange"] == "binance"
    assert values["side"] == "SELL"
    assert values["price"] == Decimal("104250.1")
    assert values["timestamp"] == 1737500000120789
