"""The publisher and the handler's frame path against the local cloud's real Kafka and registry.

Records are read back from the broker (from offsets taken before publishing) and decoded with a
registry client of their own: what a consumer downstream would see, not what the publisher says
it sent. A producer pointed at a port nobody listens on, and a record the broker refuses, show
how delivery failures surface.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaTimeoutError

from k2.aws import aws_client
from k2.domain.markets import MAX_FRAME_BYTES, DataType, Exchange, dlq_topic, raw_topic
from k2.feeds.avro_records import avro_record
from k2.feeds.binance import BinanceRawQuote, BinanceRawTrade
from k2.feeds.binance_feed import BinanceFeed
from k2.feeds.feed_handler import FeedHandler
from k2.feeds.glue_schema_registry import GlueSchemaRegistry
from k2.feeds.kafka_producer import build_producer
from k2.feeds.market_data_publisher import DeliveryError, MarketDataPublisher
from k2.feeds.topic_reader import end_offsets, read_between
from k2.feeds.websocket_session import ReceivedFrame, SessionPolicy
from k2.settings import K2Settings

pytestmark = pytest.mark.integration

NOW_US = 1_790_000_000_000_000
TRADES = raw_topic(DataType.TRADES, Exchange.BINANCE)
QUOTES = raw_topic(DataType.QUOTES, Exchange.BINANCE)
DLQ = dlq_topic(Exchange.BINANCE)
TOPICS = [TRADES, QUOTES, DLQ]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def registry_for(settings: K2Settings) -> GlueSchemaRegistry:
    return GlueSchemaRegistry(aws_client("glue", settings), settings.schema_registry_name)


@pytest.fixture
def publisher(k2_settings: K2Settings) -> Iterator[MarketDataPublisher]:
    """Wired the way ``feed_service.build_handler`` wires it, with a fixed clock."""
    producer = build_producer(k2_settings, client_id="k2-test-publisher")
    publisher = MarketDataPublisher(
        producer, registry_for(k2_settings), Exchange.BINANCE, clock=lambda: NOW_US
    )
    publisher.prepare()
    yield publisher
    publisher.close(timeout=10)


def decoded(settings: K2Settings, value: bytes) -> tuple[UUID, dict[str, Any]]:
    """A record's schema version and fields, by a registry client that published nothing, with
    timestamp-micros fields back in epoch microseconds."""
    version_id, record = registry_for(settings).deserialize(value)
    return version_id, {
        name: (field - EPOCH) // timedelta(microseconds=1) if isinstance(field, datetime) else field
        for name, field in record.items()
    }


def headers(record: Any) -> dict[str, bytes]:
    return dict(record.headers)


def unique_id() -> int:
    """A trade id no earlier run of this session used."""
    return time.time_ns() // 1000


def raw_trade(symbol: str, trade_id: int, trade_time: int) -> BinanceRawTrade:
    return BinanceRawTrade(
        event_type="trade",
        event_time=trade_time + 150,
        symbol=symbol,
        trade_id=trade_id,
        price="3456.78000000",
        quantity="0.01230000",
        trade_time=trade_time,
        is_buyer_maker=True,
        is_best_match=None,
        ingestion_timestamp=trade_time + 900,
    )


def test_prepare_registers_the_exchange_raw_schemas_once(
    k2_settings: K2Settings, publisher: MarketDataPublisher
) -> None:
    versions = publisher.prepare()

    assert set(versions) == {"binance_raw_trade", "binance_raw_quote"}
    assert publisher.prepare() == versions
    fresh = registry_for(k2_settings)
    assert fresh.schema(versions["binance_raw_trade"])["name"].endswith("BinanceRawTrade")
    assert fresh.schema(versions["binance_raw_quote"])["name"].endswith("BinanceRawQuote")


def test_records_dead_letters_and_gap_records_reach_kafka_as_written(
    k2_settings: K2Settings, publisher: MarketDataPublisher
) -> None:
    versions = publisher.prepare()
    start = end_offsets(k2_settings, TOPICS)
    first_id = unique_id()
    trade_time = NOW_US - 2_500
    trades = [
        raw_trade("ETHUSDT", first_id, trade_time),
        raw_trade("ETHUSDT", first_id + 1, NOW_US),
    ]
    quote = BinanceRawQuote(
        update_id=first_id,
        symbol="ETHUSDT",
        bid_price="3456.77000000",
        bid_quantity="1.00000000",
        ask_price="3456.78000000",
        ask_quantity="2.50000000",
        event_time=None,
        transaction_time=None,
        ingestion_timestamp=NOW_US,
    )
    binary_frame = b'\xff\x00{"stream": "ethusdt@trade", "data": ' + os.urandom(16)
    text_frame = f'{{"e": "trädé", "id": {first_id}'

    for trade in trades:
        publisher.publish(trade, "ETHUSDT", trade.trade_time)
    publisher.publish(quote, "ETHUSDT", None)
    publisher.publish_dead_letter(
        binary_frame,
        kind="malformed_frame",
        reason="not JSON",
        received_at_us=NOW_US - 7,
        connection=3,
    )
    publisher.publish_dead_letter(
        text_frame, kind="unknown_symbol", reason="no quote asset", received_at_us=1, connection=4
    )
    publisher.publish_gap_record("ETHUSDT", first_id - 20, first_id - 11)
    publisher.flush(timeout=60)

    publisher.raise_for_failures()
    assert publisher.stats.failed == 0
    assert publisher.stats.acknowledged == 6
    assert publisher.stats.sent == {TRADES: 2, QUOTES: 1, DLQ: 3}
    # Exchange-to-acknowledgement lag of the two trades, by the publisher's clock.
    assert sorted(publisher.stats.lag_us) == [0, 2_500]

    records = read_between(k2_settings, start)
    by_topic: dict[str, list[Any]] = {topic: [] for topic in TOPICS}
    for record in records:
        by_topic[record.topic].append(record)

    # Trades: keyed by the normalised symbol, one partition, in order, every field as written.
    trade_records = by_topic[TRADES]
    assert [record.key for record in trade_records] == [b"ETHUSDT", b"ETHUSDT"]
    assert trade_records[0].partition == trade_records[1].partition
    assert trade_records[0].offset < trade_records[1].offset
    for record, trade in zip(trade_records, trades, strict=True):
        version_id, fields = decoded(k2_settings, record.value)
        assert version_id == versions["binance_raw_trade"]
        assert fields == avro_record(trade)
        assert record.headers == []

    [quote_record] = by_topic[QUOTES]
    assert quote_record.key == b"ETHUSDT"
    assert decoded(k2_settings, quote_record.value) == (
        versions["binance_raw_quote"],
        avro_record(quote),
    )

    # The DLQ: frames byte for byte (text as UTF-8), why, and where they came from.
    binary, text, gap = by_topic[DLQ]
    assert binary.key is None
    assert binary.value == binary_frame
    assert headers(binary) == {
        "k2-kind": b"malformed_frame",
        "k2-reason": b"not JSON",
        "k2-exchange": b"binance",
        "k2-received-at-us": str(NOW_US - 7).encode(),
        "k2-connection": b"3",
    }
    assert text.value == text_frame.encode("utf-8")
    assert headers(text)["k2-kind"] == b"unknown_symbol"
    assert headers(text)["k2-connection"] == b"4"

    assert gap.key is None
    assert headers(gap) == {
        "k2-kind": b"unfilled_trade_gap",
        "k2-reason": b"trade ids missing from the stream and from REST history",
        "k2-exchange": b"binance",
    }
    assert json.loads(gap.value) == {
        "exchange": "binance",
        "symbol": "ETHUSDT",
        "first_trade_id": first_id - 20,
        "last_trade_id": first_id - 11,
        "missing": 10,
        "recorded_at_us": NOW_US,
    }


def binance_trade_frame(stream_symbol: str, symbol: str, trade_id: int, trade_time: int) -> str:
    return json.dumps(
        {
            "stream": f"{stream_symbol}@trade",
            "data": {
                "e": "trade",
                "E": trade_time + 100,
                "s": symbol,
                "t": trade_id,
                "p": "104000.01000000",
                "q": "0.00100000",
                "T": trade_time,
                "m": False,
                "M": True,
            },
        }
    )


def test_the_handler_publishes_each_trade_once_and_dead_letters_what_it_cannot_use(
    k2_settings: K2Settings, publisher: MarketDataPublisher
) -> None:
    feed = BinanceFeed("ws://127.0.0.1:9", "http://127.0.0.1:9", ("BTCUSDT", "ETHUSDT"))
    handler = FeedHandler(feed, publisher, SessionPolicy(stale_after=30.0))
    start = end_offsets(k2_settings, TOPICS)
    first_id = unique_id()
    quote_frame = json.dumps(
        {
            "stream": "btcusdt@bookTicker",
            "data": {"u": first_id, "s": "BTCUSDT", "b": "1.0", "B": "2", "a": "1.1", "A": "3"},
        }
    )
    malformed = b'{"stream": "btcusdt@trade", "data": {"e": "trade"'
    unknown = binance_trade_frame("foobar", "FOOBAR", 1, NOW_US)
    frames: list[tuple[bytes | str, int]] = [
        (binance_trade_frame("btcusdt", "BTCUSDT", first_id, NOW_US - 1_000), 1),
        (binance_trade_frame("btcusdt", "BTCUSDT", first_id + 1, NOW_US - 400), 1),
        (binance_trade_frame("btcusdt", "BTCUSDT", first_id + 1, NOW_US - 400), 2),  # overlap
        (binance_trade_frame("btcusdt", "BTCUSDT", first_id, NOW_US - 1_000), 2),
        (quote_frame, 1),
        (quote_frame, 2),
        (malformed, 1),
        (unknown, 2),
    ]

    for number, (data, connection) in enumerate(frames):
        handler.handle(ReceivedFrame(data, NOW_US + number, connection))
    publisher.flush(timeout=60)
    publisher.raise_for_failures()

    counters = handler.counters
    assert counters.frames == 8
    assert (counters.trades_published, counters.duplicate_trades) == (2, 2)
    assert (counters.quotes_published, counters.duplicate_quotes) == (1, 1)
    assert counters.dead_letters == 2
    assert counters.gaps_detected == 0
    assert sorted(publisher.stats.lag_us) == [400, 1_000]

    records = read_between(k2_settings, start)
    trade_records = [record for record in records if record.topic == TRADES]
    assert [record.key for record in trade_records] == [b"BTCUSDT", b"BTCUSDT"]
    trade_fields = [decoded(k2_settings, record.value)[1] for record in trade_records]
    assert [(fields["trade_id"], fields["trade_time"]) for fields in trade_fields] == [
        (first_id, NOW_US - 1_000),
        (first_id + 1, NOW_US - 400),
    ]
    assert [fields["ingestion_timestamp"] for fields in trade_fields] == [NOW_US, NOW_US + 1]

    quote_records = [record for record in records if record.topic == QUOTES]
    assert len(quote_records) == 1
    assert decoded(k2_settings, quote_records[0].value)[1]["update_id"] == first_id

    dead_letters = [record for record in records if record.topic == DLQ]
    assert [record.value for record in dead_letters] == [malformed, unknown.encode()]
    assert [headers(record)["k2-kind"] for record in dead_letters] == [
        b"malformed_frame",
        b"unknown_symbol",
    ]
    assert [headers(record)["k2-connection"] for record in dead_letters] == [b"1", b"2"]
    assert [headers(record)["k2-received-at-us"] for record in dead_letters] == [
        str(NOW_US + 6).encode(),
        str(NOW_US + 7).encode(),
    ]
    assert {record.topic for record in records} <= set(TOPICS)
    assert len(records) == 5


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_producer_without_a_broker_fails_the_caller_and_records_no_delivery(
    k2_settings: K2Settings,
) -> None:
    """kafka-python needs topic metadata before it queues a record: with no broker, ``prepare``
    and every send raise ``KafkaTimeoutError`` after ``max_block_ms``, in the caller, so the
    handler's consumer task crashes. Nothing reaches the errback, so ``raise_for_failures`` has
    nothing to report."""
    producer = KafkaProducer(
        bootstrap_servers=f"127.0.0.1:{closed_port()}",
        api_version=(3, 0),  # otherwise the constructor itself blocks, probing the version
        acks="all",
        max_block_ms=1_000,
        request_timeout_ms=500,
        delivery_timeout_ms=1_500,
        linger_ms=0,
        retries=1,
    )
    publisher = MarketDataPublisher(producer, registry_for(k2_settings), Exchange.BINANCE)
    try:
        with pytest.raises(KafkaTimeoutError):
            publisher.prepare()
        with pytest.raises(KafkaTimeoutError):
            publisher.publish_dead_letter(
                b"frame", kind="malformed_frame", reason="x", received_at_us=1, connection=1
            )

        publisher.raise_for_failures()  # the failures were raised, not recorded
        assert publisher.stats.sent == {}
        assert (publisher.stats.acknowledged, publisher.stats.failed) == (0, 0)
    finally:
        producer.close(timeout=2)


def test_a_record_the_broker_refuses_surfaces_through_raise_for_failures(
    k2_settings: K2Settings,
) -> None:
    """A raw topic keeps Kafka's 1 MiB record limit: a 2 MiB trade (random hex, which lz4 cannot
    shrink below the limit) passes the producer, which allows dead letters up to 8 MiB, and is
    refused by the broker later, on the producer's I/O thread."""
    producer = build_producer(k2_settings)
    publisher = MarketDataPublisher(producer, registry_for(k2_settings), Exchange.BINANCE)
    try:
        publisher.prepare()
        start = end_offsets(k2_settings, [TRADES])
        huge = dataclasses.replace(
            raw_trade("BTCUSDT", unique_id(), 1_700_000_000_000_000), price=os.urandom(2**20).hex()
        )
        publisher.publish(huge, "BTCUSDT", None)
        assert publisher.stats.sent == {TRADES: 1}
        publisher.flush(timeout=60)

        refused = r"1 record\(s\) not delivered: MessageSizeTooLargeError"
        with pytest.raises(DeliveryError, match=refused):
            publisher.raise_for_failures()
        assert (publisher.stats.acknowledged, publisher.stats.failed) == (0, 1)
        assert read_between(k2_settings, start) == []
    finally:
        producer.close(timeout=5)


def test_the_largest_frame_a_socket_accepts_is_dead_lettered_whole(
    k2_settings: K2Settings,
) -> None:
    producer = build_producer(k2_settings)
    publisher = MarketDataPublisher(producer, registry_for(k2_settings), Exchange.BINANCE)
    frame = os.urandom(MAX_FRAME_BYTES)
    try:
        publisher.prepare()
        start = end_offsets(k2_settings, [DLQ])
        publisher.publish_dead_letter(
            frame, kind="malformed_frame", reason="huge", received_at_us=1, connection=1
        )
        publisher.flush(timeout=60)
        publisher.raise_for_failures()
        [record] = read_between(k2_settings, start)
        assert record.value == frame
    finally:
        producer.close(timeout=5)
