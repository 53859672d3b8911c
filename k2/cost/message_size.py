"""Bytes per message, measured with the feed handler's own code rather than guessed.

Four representative frames (the documented formats, the same ones as the test fixtures in
``tests/fixtures/exchanges``) are parsed by the real parsers, turned into Avro records by
``avro_record``, encoded by fastavro with the schemas in ``schemas/`` and framed with the Glue
Schema Registry header, exactly as ``MarketDataPublisher.publish`` does. So a change to a schema
or to the framing changes the cost model too.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from uuid import UUID

from k2.domain.markets import DataType, Exchange
from k2.domain.symbols import instrument

KAFKA_RECORD_OVERHEAD_BYTES = 8
"""Kafka record format v2 around key and value: length, attributes, timestamp delta, offset
delta, key and value lengths and header count are one or two bytes each for records this
small. The 61-byte batch header is shared by a batch (linger 5 ms) and left out, and so is lz4
compression, which would shrink the batch: both make the Kafka figures a slight upper bound."""

WIRE_OVERHEAD_BYTES = 60
"""What a WebSocket message costs on the wire besides its JSON: a 2-4 byte WebSocket header, a
TLS record (about 29 bytes with AES-GCM) and its share of TCP/IP headers (52 bytes per packet;
several messages often share a packet). An assumption, used for NAT gateway bytes only."""

_BINANCE_TRADE = (
    '{"stream":"btcusdt@trade","data":{"e":"trade","E":1737500000123456,"s":"BTCUSDT",'
    '"t":4210000001,"p":"104250.10000000","q":"0.00150000","T":1737500000120789,'
    '"m":true,"M":true}}'
)
_BINANCE_QUOTE = (
    '{"stream":"btcusdt@bookTicker","data":{"u":71234567890,"s":"BTCUSDT",'
    '"b":"104250.10000000","B":"2.51700000","a":"104250.11000000","A":"0.00800000"}}'
)
_KRAKEN_TRADES = (
    '{"channel":"trade","type":"update","data":['
    '{"symbol":"BTC/USD","side":"sell","price":104251.2,"qty":0.012,"ord_type":"market",'
    '"trade_id":91234001,"timestamp":"2025-01-21T22:53:20.512345Z"},'
    '{"symbol":"BTC/USD","side":"sell","price":104250.9,"qty":0.5,"ord_type":"market",'
    '"trade_id":91234002,"timestamp":"2025-01-21T22:53:20.512345Z"},'
    '{"symbol":"BTC/USD","side":"buy","price":104251,"qty":0.00000001,"ord_type":"limit",'
    '"trade_id":91234003,"timestamp":"2025-01-21T22:53:20.600001Z"}]}'
)
_KRAKEN_QUOTE = (
    '{"channel":"ticker","type":"snapshot","data":[{"symbol":"BTC/USD","bid":104250.1,'
    '"bid_qty":5.47575141,"ask":104250.2,"ask_qty":0.00520331,"last":104250.2,'
    '"volume":1824.36198,"vwap":103987.7,"low":102150.0,"high":105000.0,"change":1512.3,'
    '"change_pct":1.47,"timestamp":"2025-01-21T22:53:21.000123Z"}]}'
)
_RECEIVED_AT_US = 1_737_500_000_200_000
_VERSION_ID = UUID("00000000-0000-4000-8000-000000000000")  # only its 16 bytes matter


@dataclass(frozen=True)
class MessageSize:
    """One record kind's bytes: on Kafka (key + framed Avro value + record overhead) and as
    JSON on the exchange's WebSocket (its share of the frame, plus wire overhead)."""

    exchange: Exchange
    data_type: DataType
    key_bytes: int
    value_bytes: int
    websocket_json_bytes: Decimal

    @property
    def kafka_bytes(self) -> int:
        return self.key_bytes + self.value_bytes + KAFKA_RECORD_OVERHEAD_BYTES

    @property
    def wire_bytes(self) -> Decimal:
        return self.websocket_json_bytes + WIRE_OVERHEAD_BYTES


@cache
def message_size(exchange: Exchange, data_type: DataType) -> MessageSize:
    """Measure one record kind by publishing its representative frame through our encoder."""
    from k2.feeds import binance, kraken
    from k2.feeds.avro_records import RawRecord, avro_record, schema_name
    from k2.feeds.avro_schemas import parse_schema, schema_definition
    from k2.feeds.glue_schema_registry import encode_avro, frame

    text = {
        (Exchange.BINANCE, DataType.TRADES): _BINANCE_TRADE,
        (Exchange.BINANCE, DataType.QUOTES): _BINANCE_QUOTE,
        (Exchange.KRAKEN, DataType.TRADES): _KRAKEN_TRADES,
        (Exchange.KRAKEN, DataType.QUOTES): _KRAKEN_QUOTE,
    }[(exchange, data_type)]
    if exchange is Exchange.BINANCE:
        parsed = binance.parse_frame(text, received_at_us=_RECEIVED_AT_US)
        records: tuple[RawRecord, ...] = (
            parsed.trades if data_type is DataType.TRADES else parsed.quotes
        )
    else:
        parsed_k = kraken.parse_frame(text, received_at_us=_RECEIVED_AT_US)
        records = parsed_k.trades if data_type is DataType.TRADES else parsed_k.quotes
    values = []
    for record in records:
        schema = parse_schema(schema_definition(schema_name(record)))
        values.append(len(frame(_VERSION_ID, encode_avro(schema, avro_record(record)))))
    symbol = records[0].symbol
    key = instrument(exchange, symbol).symbol.encode()
    count = Decimal(len(records))
    return MessageSize(
        exchange=exchange,
        data_type=data_type,
        key_bytes=len(key),
        value_bytes=round(sum(values) / len(values)),
        websocket_json_bytes=Decimal(len(text.encode())) / count,
    )
