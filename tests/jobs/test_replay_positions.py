"""``k2 replay --from topic:partition:offset,...``: what the offsets form accepts and refuses."""

from __future__ import annotations

import pytest

from k2.jobs.replay import KafkaPosition, parse_positions

pytestmark = pytest.mark.unit

TRADES = "market.crypto.trades.binance.raw"
QUOTES = "market.crypto.quotes.kraken.raw"


def test_positions_name_raw_topic_partitions_and_their_first_offsets() -> None:
    assert parse_positions(f"{TRADES}:0:1200, {QUOTES}:3:0") == (
        KafkaPosition(TRADES, 0, 1200),
        KafkaPosition(QUOTES, 3, 0),
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "no topic"),
        ("market.crypto.trades.binance.dlq:0:1", "raw topic"),
        (f"{TRADES}:zero:1", "integers"),
        (f"{TRADES}:0:-1", "negative"),
        (f"{TRADES}:0:5,{TRADES}:0:9", "twice"),
        (f"{TRADES}:0", "raw topic"),
    ],
)
def test_a_bad_position_is_refused_saying_why(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        parse_positions(text)
