"""Topic names and settings of DESIGN.md §1."""

from __future__ import annotations

import pytest

from k2.domain.markets import DataType, Exchange, dlq_topic, platform_topics, raw_topic

pytestmark = pytest.mark.unit


def test_topic_names_follow_the_design() -> None:
    assert raw_topic(DataType.TRADES, Exchange.BINANCE) == "market.crypto.trades.binance.raw"
    assert raw_topic(DataType.QUOTES, Exchange.KRAKEN) == "market.crypto.quotes.kraken.raw"
    assert dlq_topic(Exchange.KRAKEN) == "market.crypto.kraken.dlq"


def test_platform_topics_cover_every_exchange_and_data_type_plus_dlqs() -> None:
    names = {topic.name for topic in platform_topics()}
    assert names == {
        "market.crypto.trades.binance.raw",
        "market.crypto.quotes.binance.raw",
        "market.crypto.trades.kraken.raw",
        "market.crypto.quotes.kraken.raw",
        "market.crypto.binance.dlq",
        "market.crypto.kraken.dlq",
    }
    for topic in platform_topics():
        assert topic.partitions >= 1
        assert int(topic.config["retention.ms"]) >= 7 * 24 * 3600 * 1000
