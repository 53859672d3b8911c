"""Silver record by record (k2.jobs.silver_records): bronze rows of really framed Avro records,
made from the recorded exchange frames, become silver rows or DLQ rows, never nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zlib
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import fastavro
import pytest
from hypothesis import given
from hypothesis import strategies as st

from k2.domain.markets import DataType, Exchange, raw_topic
from k2.domain.validation import EARLIEST_TIMESTAMP_US, ReasonClass, ReasonCode, ValidationPolicy
from k2.feeds import binance, kraken
from k2.feeds.avro_records import RawRecord, avro_record, schema_name
from k2.feeds.avro_schemas import parse_schema, schema_definition
from k2.feeds.binance import BinanceRawQuote, BinanceRawTrade
from k2.feeds.glue_schema_registry import encode_avro, frame
from k2.feeds.kraken import KrakenRawQuote, KrakenRawTrade
from k2.jobs.silver_records import (
    DLQ_COLUMNS,
    MAX_MESSAGE_LENGTH,
    SILVER_LINEAGE_COLUMNS,
    DeadLetter,
    SchemaLookup,
    SilverRecord,
    UnknownSchemaVersionError,
    bronze_table_name,
    decode_bronze_row,
    decoded_value,
    split_bronze_rows,
)
from tests.fixtures.exchanges.fixture_frames import fixture_frame

pytestmark = pytest.mark.unit

RECEIVED = 1737500000530000  # 2025-01-21T22:53:20.530Z, just after the fixtures' trades
SECOND = 1_000_000
DAY = 86_400 * SECOND
KAFKA_TIME = datetime(2025, 1, 21, 22, 53, 20, 531000, tzinfo=UTC)
INGESTED_AT = datetime(2025, 1, 21, 22, 54, 0, tzinfo=UTC)

VERSION_IDS = {
    "binance_raw_trade": UUID("0b1a7ce0-0000-4000-8000-000000000001"),
    "binance_raw_quote": UUID("0b1a7ce0-0000-4000-8000-000000000002"),
    "kraken_raw_trade": UUID("0b1a7ce0-0000-4000-8000-000000000003"),
    "kraken_raw_quote": UUID("0b1a7ce0-0000-4000-8000-000000000004"),
}
UNREGISTERED = UUID("0b1a7ce0-0000-4000-8000-0000000000ff")
SCHEMAS: dict[UUID, Any] = {
    version: parse_schema(schema_definition(name)) for name, version in VERSION_IDS.items()
}
LOOKUP: SchemaLookup = SCHEMAS.__getitem__


# --- building bronze rows the way the feed handler and bronze do -------------------------------


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def binance_trade(name: str = "trade_combined_micros.frame") -> BinanceRawTrade:
    (trade,) = binance.parse_frame(fixture_frame("binance", name), received_at_us=RECEIVED).trades
    return trade


def binance_quote(name: str = "book_ticker_combined.frame") -> BinanceRawQuote:
    (quote,) = binance.parse_frame(fixture_frame("binance", name), received_at_us=RECEIVED).quotes
    return quote


def kraken_trades(name: str = "trade_update_batch.frame") -> tuple[KrakenRawTrade, ...]:
    return kraken.parse_frame(fixture_frame("kraken", name), received_at_us=RECEIVED).trades


def kraken_quote(name: str = "ticker_snapshot.frame") -> KrakenRawQuote:
    (quote,) = kraken.parse_frame(fixture_frame("kraken", name), received_at_us=RECEIVED).quotes
    return quote


def framed(
    record: RawRecord | dict[str, Any],
    *,
    version: UUID | None = None,
    schema: Any = None,
    compress: bool = False,
) -> bytes:
    """The Kafka value the producer writes: Glue Schema Registry header + Avro body."""
    if isinstance(record, dict):
        assert version is not None and schema is not None
        return frame(version, encode_avro(schema, record), compress=compress)
    version = version or VERSION_IDS[schema_name(record)]
    schema = schema or SCHEMAS[version]
    return frame(version, encode_avro(schema, avro_record(record)), compress=compress)


def bronze_schema_version_id(value: bytes | None) -> str | None:
    """What the bronze job records (k2.jobs.bronze.schema_version_id), in Python."""
    if value is None or len(value) < 18 or value[0] != 3:
        return None
    return str(UUID(bytes=value[2:18]))


def bronze_row(
    value: bytes | bytearray | None,
    exchange: Exchange = Exchange.BINANCE,
    data_type: DataType = DataType.TRADES,
    *,
    partition: int = 3,
    offset: int = 41,
) -> dict[str, Any]:
    return {
        "key": b"BTCUSDT",
        "value": value,
        "topic": raw_topic(data_type, exchange),
        "partition": partition,
        "offset": offset,
        "kafka_timestamp": KAFKA_TIME,
        "schema_version_id": bronze_schema_version_id(None if value is None else bytes(value)),
        "ingested_at": INGESTED_AT,
    }


def silver(
    row: dict[str, Any],
    exchange: Exchange = Exchange.BINANCE,
    data_type: DataType = DataType.TRADES,
    lookup: SchemaLookup = LOOKUP,
    policy: ValidationPolicy | None = None,
) -> dict[str, Any]:
    result = decode_bronze_row(row, exchange, data_type, lookup, policy or ValidationPolicy())
    assert isinstance(result, SilverRecord), result
    return result.row


def dead_letter(
    row: dict[str, Any],
    exchange: Exchange = Exchange.BINANCE,
    data_type: DataType = DataType.TRADES,
    lookup: SchemaLookup = LOOKUP,
    policy: ValidationPolicy | None = None,
) -> dict[str, Any]:
    result = decode_bronze_row(row, exchange, data_type, lookup, policy or ValidationPolicy())
    assert isinstance(result, DeadLetter), result
    assert tuple(result.row) == DLQ_COLUMNS
    assert result.row["raw_value"] == (None if row["value"] is None else bytes(row["value"]))
    assert result.row["raw_value"] is None or type(result.row["raw_value"]) is bytes
    assert (result.row["topic"], result.row["partition"], result.row["offset"]) == (
        row["topic"],
        row["partition"],
        row["offset"],
    )
    assert result.row["kafka_timestamp"] == row["kafka_timestamp"]
    assert result.row["schema_version_id"] == row["schema_version_id"]
    assert result.row["source_table"] == f"bronze_{exchange}_{data_type}"
    assert (result.row["exchange"], result.row["data_type"]) == (exchange.value, data_type.value)
    assert 0 < len(result.row["message"]) <= MAX_MESSAGE_LENGTH
    return result.row


def reason(dlq: dict[str, Any]) -> tuple[str, str]:
    return dlq["reason_class"], dlq["reason"]


# --- valid records -----------------------------------------------------------------------------


def test_binance_trade_becomes_a_silver_row_with_exact_decimals_and_its_message_id() -> None:
    row = silver(bronze_row(framed(binance_trade())))

    assert row == {
        "message_id": sha256("binance|BTCUSDT|4210000001"),
        "exchange": "binance",
        "symbol": "BTCUSDT",
        "exchange_symbol": "BTCUSDT",
        "base_asset": "BTC",
        "quote_asset": "USDT",
        "trade_id": 4210000001,
        "timestamp": 1737500000120789,
        "price": Decimal("104250.10000000"),
        "quantity": Decimal("0.00150000"),
        "side": "SELL",  # m=true: the buyer was the maker, so the taker sold
        "ingestion_timestamp": RECEIVED,
        "source_topic": "market.crypto.trades.binance.raw",
        "source_partition": 3,
        "source_offset": 41,
        "schema_version_id": str(VERSION_IDS["binance_raw_trade"]),
    }
    assert tuple(row)[-4:] == SILVER_LINEAGE_COLUMNS
    # exact: the very digits Binance sent, plain Python types for every engine
    assert (str(row["price"]), str(row["quantity"])) == ("104250.10000000", "0.00150000")
    assert all(type(row[key]) is str for key in ("exchange", "side", "message_id"))
    assert all(type(row[key]) is int for key in ("timestamp", "ingestion_timestamp"))


def test_binance_millisecond_trade_and_the_largest_publishable_quantity() -> None:
    millis = silver(bronze_row(framed(binance_trade("trade_combined_millis.frame"))))
    assert (millis["symbol"], millis["side"], millis["timestamp"]) == (
        "ETHUSDT",
        "BUY",
        1737500001499000,
    )
    assert millis["message_id"] == sha256("binance|ETHUSDT|1987654321")

    largest = binance_trade("trade_largest_value.frame")
    policy = ValidationPolicy.for_instruments([("binance", "SHIBUSDT")])
    row = silver(bronze_row(framed(largest)), policy=policy)
    assert str(row["quantity"]) == "92233720368.54775807"
    assert str(row["price"]) == "0.00001917"


def test_binance_quote_becomes_a_silver_row_without_an_exchange_time() -> None:
    value = framed(binance_quote())
    row = silver(bronze_row(value, data_type=DataType.QUOTES), data_type=DataType.QUOTES)

    assert row == {
        "message_id": sha256("binance|BTCUSDT|quote:71234567890"),
        "exchange": "binance",
        "symbol": "BTCUSDT",
        "exchange_symbol": "BTCUSDT",
        "base_asset": "BTC",
        "quote_asset": "USDT",
        "update_id": 71234567890,
        "exchange_timestamp": None,
        "bid_price": Decimal("104250.10000000"),
        "bid_quantity": Decimal("2.51700000"),
        "ask_price": Decimal("104250.11000000"),
        "ask_quantity": Decimal("0.00800000"),
        "ingestion_timestamp": RECEIVED,
        "source_topic": "market.crypto.quotes.binance.raw",
        "source_partition": 3,
        "source_offset": 41,
        "schema_version_id": str(VERSION_IDS["binance_raw_quote"]),
    }


def test_every_trade_of_a_kraken_batch_becomes_its_own_silver_row() -> None:
    trades = kraken_trades()
    rows = [
        bronze_row(framed(trade), Exchange.KRAKEN, offset=offset)
        for offset, trade in enumerate(trades)
    ]
    good, dead = split_bronze_rows(rows, Exchange.KRAKEN, DataType.TRADES, LOOKUP)

    assert dead == []
    assert [row["trade_id"] for row in good] == [91234001, 91234002, 91234003]
    assert [row["source_offset"] for row in good] == [0, 1, 2]
    last = good[2]
    assert last == {
        "message_id": sha256("kraken|BTCUSD|91234003"),
        "exchange": "kraken",
        "symbol": "BTCUSD",
        "exchange_symbol": "BTC/USD",
        "base_asset": "BTC",
        "quote_asset": "USD",
        "trade_id": 91234003,
        "timestamp": 1737500000600001,
        "price": Decimal("104251"),
        "quantity": Decimal("0.00000001"),
        "side": "BUY",
        "ingestion_timestamp": RECEIVED,
        "source_topic": "market.crypto.trades.kraken.raw",
        "source_partition": 3,
        "source_offset": 2,
        "schema_version_id": str(VERSION_IDS["kraken_raw_trade"]),
    }
    assert [str(row["price"]) for row in good] == ["104251.2", "104250.9", "104251"]
    assert [row["side"] for row in good] == ["SELL", "SELL", "BUY"]


def test_kraken_quote_becomes_a_silver_row_with_the_id_of_its_time_and_values() -> None:
    value = framed(kraken_quote())
    row = silver(
        bronze_row(value, Exchange.KRAKEN, DataType.QUOTES), Exchange.KRAKEN, DataType.QUOTES
    )

    key = "2025-01-21T22:53:21.000123Z|104250.1|5.47575141|104250.2|0.00520331"
    assert row["message_id"] == sha256(f"kraken|BTCUSD|quote:{key}")
    assert (row["update_id"], row["exchange_timestamp"]) == (None, 1737500001000123)
    assert [str(row[k]) for k in ("bid_price", "bid_quantity", "ask_price", "ask_quantity")] == [
        "104250.1",
        "5.47575141",
        "104250.2",
        "0.00520331",
    ]
    assert (row["symbol"], row["exchange_symbol"]) == ("BTCUSD", "BTC/USD")

    without_time = kraken_quote("ticker_update_without_timestamp.frame")
    row = silver(
        bronze_row(framed(without_time), Exchange.KRAKEN, DataType.QUOTES),
        Exchange.KRAKEN,
        DataType.QUOTES,
    )
    assert (row["symbol"], row["exchange_timestamp"]) == ("ETHUSD", None)


def test_a_zlib_compressed_frame_and_a_bytearray_value_decode_alike() -> None:
    plain = silver(bronze_row(framed(binance_trade())))
    assert silver(bronze_row(framed(binance_trade(), compress=True))) == plain
    assert silver(bronze_row(bytearray(framed(binance_trade())))) == plain


# --- decode ------------------------------------------------------------------------------------


def _good_value() -> bytes:
    return framed(binance_trade())


def _header(version: UUID, compression: int = 0) -> bytes:
    return bytes([3, compression]) + version.bytes


BINANCE_TRADE_V1 = VERSION_IDS["binance_raw_trade"]

DECODE_CASES: dict[str, tuple[bytes | None, ReasonCode]] = {
    "null-value": (None, ReasonCode.MISSING_VALUE),
    "empty": (b"", ReasonCode.NOT_FRAMED),
    "garbage": (b"this is not a framed avro record at all", ReasonCode.NOT_FRAMED),
    "json-frame": (fixture_frame("binance", "trade_combined_micros.frame"), ReasonCode.NOT_FRAMED),
    "header-version-2": (b"\x02" + _good_value()[1:], ReasonCode.NOT_FRAMED),
    "compression-byte-9": (_header(BINANCE_TRADE_V1, 9) + b"\x00", ReasonCode.NOT_FRAMED),
    "truncated-avro": (_good_value()[:-3], ReasonCode.BAD_AVRO),
    "header-only": (_header(BINANCE_TRADE_V1), ReasonCode.BAD_AVRO),
    "trailing-bytes": (_good_value() + b"\x00", ReasonCode.BAD_AVRO),
    "invalid-utf8": (
        _header(BINANCE_TRADE_V1) + b"\x04\xff\xfe" + b"\x00" * 40,
        ReasonCode.BAD_AVRO,
    ),
    "not-zlib": (_header(BINANCE_TRADE_V1, 5) + b"not zlib", ReasonCode.BAD_COMPRESSION),
    "truncated-zlib": (
        framed(binance_trade(), compress=True)[:-4],
        ReasonCode.BAD_COMPRESSION,
    ),
    "bytes-after-zlib": (
        framed(binance_trade(), compress=True) + b"extra",
        ReasonCode.BAD_COMPRESSION,
    ),
    "zlib-bomb": (
        _header(BINANCE_TRADE_V1, 5) + zlib.compress(b"\x00" * (9 * 2**20)),
        ReasonCode.BAD_COMPRESSION,
    ),
}


@pytest.mark.parametrize(("value", "code"), DECODE_CASES.values(), ids=DECODE_CASES.keys())
def test_bytes_that_are_not_a_framed_avro_record_go_to_the_dlq_as_decode(
    value: bytes | None, code: ReasonCode
) -> None:
    dlq = dead_letter(bronze_row(value))
    assert reason(dlq) == (ReasonClass.DECODE, code)


def test_dlq_keeps_the_raw_bytes_and_the_bronze_coordinates() -> None:
    value = b"\x03\x00" + b"\x01" * 16 + b"\xff\xff\xff"
    row = bronze_row(value, partition=5, offset=987654321)
    dlq = dead_letter(row, lookup={UUID(bytes=b"\x01" * 16): SCHEMAS[BINANCE_TRADE_V1]}.__getitem__)
    assert dlq == {
        "source_table": "bronze_binance_trades",
        "topic": "market.crypto.trades.binance.raw",
        "partition": 5,
        "offset": 987654321,
        "kafka_timestamp": KAFKA_TIME,
        "raw_value": value,
        "schema_version_id": "01010101-0101-0101-0101-010101010101",
        "reason_class": "decode",
        "reason": "bad_avro",
        "message": dlq["message"],
        "exchange": "binance",
        "data_type": "trades",
    }
    assert "01010101-0101-0101-0101-010101010101" in dlq["message"]


@given(
    target=st.sampled_from([(e, d) for e in Exchange for d in DataType]),
    version=st.sampled_from([*VERSION_IDS.values(), UNREGISTERED]),
    compression=st.sampled_from([0, 5]),
    body=st.binary(max_size=200),
    unframed=st.binary(max_size=40),
)
def test_any_bytes_yield_exactly_one_row_and_never_raise(
    target: tuple[Exchange, DataType],
    version: UUID,
    compression: int,
    body: bytes,
    unframed: bytes,
) -> None:
    exchange, data_type = target
    payload = zlib.compress(body) if compression == 5 else body
    for value in (_header(version, compression) + payload, unframed):
        result = decode_bronze_row(
            bronze_row(value, exchange, data_type), exchange, data_type, LOOKUP
        )
        if isinstance(result, DeadLetter):
            assert result.row["raw_value"] == value
        else:
            assert result.row["source_offset"] == 41


# --- schema ------------------------------------------------------------------------------------


def test_an_unknown_schema_version_goes_to_the_dlq_as_schema() -> None:
    value = framed(
        avro_record(binance_trade()), version=UNREGISTERED, schema=SCHEMAS[BINANCE_TRADE_V1]
    )
    dlq = dead_letter(bronze_row(value))
    assert reason(dlq) == (ReasonClass.SCHEMA, ReasonCode.UNKNOWN_SCHEMA_VERSION)
    assert str(UNREGISTERED) in dlq["message"]

    def typed_lookup(version: UUID) -> Any:
        raise UnknownSchemaVersionError(version)

    dlq = dead_letter(bronze_row(_good_value()), lookup=typed_lookup)
    assert reason(dlq) == (ReasonClass.SCHEMA, ReasonCode.UNKNOWN_SCHEMA_VERSION)


def test_a_registry_that_cannot_answer_fails_the_job_instead_of_dead_lettering() -> None:
    def unreachable(version: UUID) -> Any:
        raise ConnectionError("registry unreachable")

    with pytest.raises(ConnectionError):
        decode_bronze_row(bronze_row(_good_value()), Exchange.BINANCE, DataType.TRADES, unreachable)


def test_a_bronze_version_id_that_disagrees_with_the_frame_is_a_schema_error() -> None:
    row = bronze_row(_good_value())
    row["schema_version_id"] = str(UNREGISTERED)
    dlq = dead_letter(row)
    assert reason(dlq) == (ReasonClass.SCHEMA, ReasonCode.SCHEMA_VERSION_MISMATCH)
    # the upper-case spelling of the same id is the same id
    row["schema_version_id"] = str(BINANCE_TRADE_V1).upper()
    assert silver(row)["schema_version_id"] == str(BINANCE_TRADE_V1)


def test_a_record_of_the_wrong_raw_schema_is_a_schema_error() -> None:
    quote_on_the_trades_topic = framed(binance_quote())
    dlq = dead_letter(bronze_row(quote_on_the_trades_topic))
    assert reason(dlq) == (ReasonClass.SCHEMA, ReasonCode.INCOMPATIBLE_SCHEMA)
    assert "required field" in dlq["message"]


# --- schema evolution --------------------------------------------------------------------------


def evolved(name: str, change: Any) -> Any:
    definition = json.loads(schema_definition(name))
    change(definition["fields"])
    return fastavro.parse_schema(definition)


def _add_venue(fields: list[dict[str, Any]]) -> None:
    fields.append({"name": "venue", "type": ["null", "string"], "default": None})


def _drop(name: str) -> Any:
    def change(fields: list[dict[str, Any]]) -> None:
        fields[:] = [field for field in fields if field["name"] != name]

    return change


def _retype(name: str, new_type: Any) -> Any:
    def change(fields: list[dict[str, Any]]) -> None:
        for field in fields:
            if field["name"] == name:
                field["type"] = new_type

    return change


V2 = UUID("0b1a7ce0-0000-4000-8000-000000000102")


def test_a_record_of_an_evolved_writer_decodes_with_its_own_version_and_v1_still_does() -> None:
    v2_schema = evolved("binance_raw_trade", _add_venue)
    lookup = {**SCHEMAS, V2: v2_schema}.__getitem__
    trade = binance_trade()
    v1_value = framed(trade)
    v2_value = framed({**avro_record(trade), "venue": "spot"}, version=V2, schema=v2_schema)

    v1_row = silver(bronze_row(v1_value), lookup=lookup)
    v2_row = silver(bronze_row(v2_value, offset=42), lookup=lookup)

    assert v2_row["schema_version_id"] == str(V2)
    assert v1_row["schema_version_id"] == str(BINANCE_TRADE_V1)
    lineage = {"schema_version_id", "source_offset"}
    assert {k: v for k, v in v2_row.items() if k not in lineage} == {
        k: v for k, v in v1_row.items() if k not in lineage
    }
    # the v2 body is not the v1 body: decoding it with v1 would leave the venue bytes over
    assert v2_value[18:] != v1_value[18:]
    mislabelled = bronze_row(frame(BINANCE_TRADE_V1, v2_value[18:]))
    assert reason(dead_letter(mislabelled, lookup=lookup)) == (
        ReasonClass.DECODE,
        ReasonCode.BAD_AVRO,
    )


def test_a_writer_without_an_optional_field_decodes_it_as_none() -> None:
    no_best_match = evolved("binance_raw_trade", _drop("is_best_match"))
    version = UUID("0b1a7ce0-0000-4000-8000-000000000103")
    record = {k: v for k, v in avro_record(binance_trade()).items() if k != "is_best_match"}
    value = framed(record, version=version, schema=no_best_match)
    row = silver(bronze_row(value), lookup={version: no_best_match}.__getitem__)
    assert row["trade_id"] == 4210000001

    # Kraken ticker: an older writer without the optional timestamp field
    no_time = evolved("kraken_raw_quote", _drop("timestamp"))
    record = {k: v for k, v in avro_record(kraken_quote()).items() if k != "timestamp"}
    value = framed(record, version=version, schema=no_time)
    row = silver(
        bronze_row(value, Exchange.KRAKEN, DataType.QUOTES),
        Exchange.KRAKEN,
        DataType.QUOTES,
        lookup={version: no_time}.__getitem__,
    )
    assert row["exchange_timestamp"] is None


def test_a_writer_with_timestamp_millis_still_yields_microseconds() -> None:
    millis = {"type": "long", "logicalType": "timestamp-millis"}
    schema = evolved("binance_raw_trade", _retype("trade_time", millis))
    version = UUID("0b1a7ce0-0000-4000-8000-000000000104")
    record = {**avro_record(binance_trade()), "trade_time": 1737500000120}
    value = framed(record, version=version, schema=schema)
    row = silver(bronze_row(value), lookup={version: schema}.__getitem__)
    assert row["timestamp"] == 1737500000120000


SCHEMA_BREAKS: dict[str, tuple[Any, dict[str, Any]]] = {
    "required-field-missing": (_drop("is_buyer_maker"), {}),
    "long-became-string": (_retype("trade_id", "string"), {"trade_id": "4210000001"}),
    "string-became-double": (_retype("price", ["null", "double"]), {"price": 104250.1}),
}


@pytest.mark.parametrize(("change", "values"), SCHEMA_BREAKS.values(), ids=SCHEMA_BREAKS.keys())
def test_a_writer_that_lacks_or_retypes_what_k2_needs_is_a_schema_error(
    change: Any, values: dict[str, Any]
) -> None:
    schema = evolved("binance_raw_trade", change)
    version = UUID("0b1a7ce0-0000-4000-8000-000000000105")
    record = {**avro_record(binance_trade()), **values}
    value = framed(record, version=version, schema=schema)
    dlq = dead_letter(bronze_row(value), lookup={version: schema}.__getitem__)
    assert reason(dlq) == (ReasonClass.SCHEMA, ReasonCode.INCOMPATIBLE_SCHEMA)


# --- normalise ---------------------------------------------------------------------------------

NORMALISE_CASES: dict[str, tuple[RawRecord, ReasonCode]] = {
    "price-21-integer-digits": (
        dataclasses.replace(binance_trade(), price="1" * 21),
        ReasonCode.DECIMAL_OUT_OF_RANGE,
    ),
    "quantity-19-decimals": (
        dataclasses.replace(binance_trade(), quantity="0." + "0" * 18 + "1"),
        ReasonCode.DECIMAL_OUT_OF_RANGE,
    ),
    "quote-price-out-of-range": (
        dataclasses.replace(binance_quote(), ask_price="1e30"),
        ReasonCode.DECIMAL_OUT_OF_RANGE,
    ),
    "price-nan": (dataclasses.replace(binance_trade(), price="NaN"), ReasonCode.INVALID_DECIMAL),
    "no-known-quote-asset": (
        dataclasses.replace(binance_trade(), symbol="FOOBAR"),
        ReasonCode.UNKNOWN_SYMBOL,
    ),
    "negative-trade-id": (
        dataclasses.replace(binance_trade(), trade_id=-1),
        ReasonCode.INVALID_IDENTIFIER,
    ),
    "kraken-side-hold": (
        dataclasses.replace(kraken_trades()[0], side="hold"),
        ReasonCode.INVALID_SIDE,
    ),
    "kraken-nanoseconds": (
        dataclasses.replace(kraken_trades()[0], timestamp="2025-01-21T22:53:20.512345678Z"),
        ReasonCode.INVALID_TIMESTAMP,
    ),
    "kraken-symbol-without-slash": (
        dataclasses.replace(kraken_trades()[0], symbol="BTCUSD"),
        ReasonCode.UNKNOWN_SYMBOL,
    ),
}


def _target(record: RawRecord) -> tuple[Exchange, DataType]:
    exchange = Exchange.BINANCE if schema_name(record).startswith("binance") else Exchange.KRAKEN
    data_type = DataType.TRADES if schema_name(record).endswith("trade") else DataType.QUOTES
    return exchange, data_type


@pytest.mark.parametrize(("record", "code"), NORMALISE_CASES.values(), ids=NORMALISE_CASES.keys())
def test_a_value_k2_cannot_represent_goes_to_the_dlq_as_normalise(
    record: RawRecord, code: ReasonCode
) -> None:
    exchange, data_type = _target(record)
    dlq = dead_letter(bronze_row(framed(record), exchange, data_type), exchange, data_type)
    assert reason(dlq) == (ReasonClass.NORMALISE, code)


# --- validate ----------------------------------------------------------------------------------

VALIDATE_CASES: dict[str, tuple[RawRecord, ReasonCode]] = {
    "zero-price": (
        dataclasses.replace(binance_trade(), price="0.00000000"),
        ReasonCode.NON_POSITIVE_PRICE,
    ),
    "negative-quantity": (
        dataclasses.replace(kraken_trades()[0], qty="-0.5"),
        ReasonCode.NON_POSITIVE_QUANTITY,
    ),
    "unlisted-symbol": (
        dataclasses.replace(binance_trade(), symbol="ETHBTC"),
        ReasonCode.UNKNOWN_SYMBOL,
    ),
    "trade-time-ahead-of-receipt": (
        dataclasses.replace(binance_trade(), trade_time=RECEIVED + 5 * SECOND + 1),
        ReasonCode.TIMESTAMP_IN_FUTURE,
    ),
    "trade-time-beyond-year-9999": (
        dataclasses.replace(binance_trade(), trade_time=10**18),
        ReasonCode.TIMESTAMP_IN_FUTURE,
    ),
    "trade-time-31-days-before-receipt": (
        dataclasses.replace(binance_trade(), trade_time=RECEIVED - 31 * DAY),
        ReasonCode.TIMESTAMP_TOO_OLD,
    ),
    "kraken-trade-before-2009": (
        dataclasses.replace(kraken_trades()[0], timestamp="2008-12-31T23:59:59Z"),
        ReasonCode.TIMESTAMP_BEFORE_EARLIEST,
    ),
    "received-before-2009": (
        dataclasses.replace(
            binance_trade(),
            trade_time=EARLIEST_TIMESTAMP_US,
            event_time=EARLIEST_TIMESTAMP_US,
            ingestion_timestamp=EARLIEST_TIMESTAMP_US - 1,
        ),
        ReasonCode.TIMESTAMP_BEFORE_EARLIEST,
    ),
    "crossed-book": (
        dataclasses.replace(binance_quote(), bid_price="104250.12000000"),
        ReasonCode.CROSSED_BOOK,
    ),
    "empty-bid-side": (
        dataclasses.replace(binance_quote(), bid_price="0.00000000", bid_quantity="0.00000000"),
        ReasonCode.NON_POSITIVE_PRICE,
    ),
    "zero-ask-quantity": (
        dataclasses.replace(kraken_quote(), ask_qty="0"),
        ReasonCode.NON_POSITIVE_QUANTITY,
    ),
    "kraken-quote-time-ahead": (
        dataclasses.replace(kraken_quote(), timestamp="2025-01-21T22:53:25.530001Z"),
        ReasonCode.TIMESTAMP_IN_FUTURE,
    ),
}


@pytest.mark.parametrize(("record", "code"), VALIDATE_CASES.values(), ids=VALIDATE_CASES.keys())
def test_a_broken_business_rule_goes_to_the_dlq_as_validate(
    record: RawRecord, code: ReasonCode
) -> None:
    exchange, data_type = _target(record)
    value = framed(record)
    dlq = dead_letter(bronze_row(value, exchange, data_type), exchange, data_type)
    assert reason(dlq) == (ReasonClass.VALIDATE, code)
    assert dlq["raw_value"] == value


def test_values_exactly_at_the_limits_pass() -> None:
    at_tolerance = dataclasses.replace(binance_trade(), trade_time=RECEIVED + 5 * SECOND)
    at_max_age = dataclasses.replace(binance_trade(), trade_time=RECEIVED - 30 * DAY)
    locked = dataclasses.replace(binance_quote(), bid_price="104250.11000000")
    silver(bronze_row(framed(at_tolerance)))
    silver(bronze_row(framed(at_max_age)))
    silver(bronze_row(framed(locked), data_type=DataType.QUOTES), data_type=DataType.QUOTES)


def test_an_exchange_the_policy_does_not_capture_is_validate_unknown_exchange() -> None:
    kraken_only = ValidationPolicy.for_instruments([("kraken", "BTCUSD")])
    dlq = dead_letter(bronze_row(_good_value()), policy=kraken_only)
    assert reason(dlq) == (ReasonClass.VALIDATE, ReasonCode.UNKNOWN_EXCHANGE)


def test_every_broken_rule_is_in_the_message_the_first_is_the_reason() -> None:
    broken = dataclasses.replace(
        binance_trade(), symbol="ETHBTC", price="0", trade_time=RECEIVED + DAY
    )
    dlq = dead_letter(bronze_row(framed(broken)))
    assert reason(dlq) == (ReasonClass.VALIDATE, ReasonCode.UNKNOWN_SYMBOL)
    assert "ETHBTC" in dlq["message"]
    assert "price 0 is not positive" in dlq["message"]
    assert "after it was received" in dlq["message"]


def test_a_long_message_is_truncated_the_bytes_are_not() -> None:
    many = ValidationPolicy.for_instruments([("binance", f"COIN{i}USDT") for i in range(300)])
    value = _good_value()
    dlq = dead_letter(bronze_row(value), policy=many)
    assert len(dlq["message"]) == MAX_MESSAGE_LENGTH
    assert dlq["message"].endswith("…")
    assert dlq["raw_value"] == value


# --- the whole split ---------------------------------------------------------------------------


def test_split_is_total_ordered_and_deterministic() -> None:
    binance_trades = (Exchange.BINANCE, DataType.TRADES)
    values: list[bytes | None] = [
        _good_value(),
        *(value for value, _ in DECODE_CASES.values()),
        framed(
            avro_record(binance_trade()), version=UNREGISTERED, schema=SCHEMAS[BINANCE_TRADE_V1]
        ),
        *(framed(r) for r, _ in NORMALISE_CASES.values() if _target(r) == binance_trades),
        *(framed(r) for r, _ in VALIDATE_CASES.values() if _target(r) == binance_trades),
        framed(binance_trade("trade_combined_millis.frame")),
    ]
    rows = [bronze_row(value, offset=offset) for offset, value in enumerate(values)]

    first = split_bronze_rows(rows, Exchange.BINANCE, DataType.TRADES, LOOKUP)
    again = split_bronze_rows(rows, Exchange.BINANCE, DataType.TRADES, LOOKUP)

    assert first == again

    # a lookup that parses afresh on every call (no schema object reused) changes nothing
    def fresh(version: UUID) -> Any:
        names = {v: k for k, v in VERSION_IDS.items()}
        return parse_schema(schema_definition(names[version]))

    assert split_bronze_rows(rows, Exchange.BINANCE, DataType.TRADES, fresh) == first
    good, dead = first
    assert len(good) + len(dead) == len(rows)  # nothing lost
    assert [row["source_offset"] for row in good] == [0, len(rows) - 1]
    offsets = sorted([row["source_offset"] for row in good] + [row["offset"] for row in dead])
    assert offsets == list(range(len(rows)))  # nothing counted twice
    assert [row["offset"] for row in dead] == sorted(row["offset"] for row in dead)
    assert {row["reason_class"] for row in dead} == {"decode", "schema", "normalise", "validate"}


def test_rows_match_the_lake_table_definitions() -> None:
    from k2.lake.tables import bronze_table, silver_dlq_table, silver_table

    job_columns = {"silver_ingested_at", "detected_at"}  # set by the Spark job when it writes
    for exchange in Exchange:
        for data_type in DataType:
            assert bronze_table_name(exchange, data_type) == bronze_table(exchange, data_type).name
    dlq_columns = [c.name for c in silver_dlq_table().columns if c.name not in job_columns]
    assert tuple(dlq_columns) == DLQ_COLUMNS

    trade = silver(bronze_row(_good_value()))
    quote = silver(
        bronze_row(framed(binance_quote()), data_type=DataType.QUOTES), data_type=DataType.QUOTES
    )
    for row, data_type in ((trade, DataType.TRADES), (quote, DataType.QUOTES)):
        table = silver_table(Exchange.BINANCE, data_type)
        assert list(row) == [c.name for c in table.columns if c.name not in job_columns]


NO_SCHEMAS: dict[UUID, Any] = {}


def test_decoded_value_gives_the_writers_version_and_record_or_says_why_not() -> None:
    trade = binance_trade()
    version, record = decoded_value(framed(trade), LOOKUP)
    assert version == VERSION_IDS[schema_name(trade)]
    assert record["trade_id"] == trade.trade_id
    with pytest.raises(ValueError, match="not_framed"):
        decoded_value(b"not a framed record", LOOKUP)
    with pytest.raises(ValueError, match="unknown_schema_version"):
        decoded_value(framed(trade), NO_SCHEMAS.__getitem__)
