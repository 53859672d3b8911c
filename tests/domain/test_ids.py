import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from k2.domain.errors import InvalidIdentifierError
from k2.domain.ids import quote_message_id, trade_message_id
from k2.domain.markets import Exchange

pytestmark = pytest.mark.unit


def test_trade_message_id_is_the_documented_hash() -> None:
    # The formula Spark reproduces: sha2(concat_ws('|', exchange, symbol, trade_id), 256)
    expected = hashlib.sha256(b"binance|BTCUSDT|4210000001").hexdigest()
    assert trade_message_id(Exchange.BINANCE, "BTCUSDT", 4210000001) == expected


def test_quote_message_id_is_the_documented_hash() -> None:
    expected = hashlib.sha256(b"binance|BTCUSDT|quote:400900217").hexdigest()
    assert quote_message_id(Exchange.BINANCE, "BTCUSDT", "400900217") == expected


@given(st.sampled_from(list(Exchange)), st.from_regex(r"[A-Z]{2,10}", fullmatch=True),
       st.integers(min_value=0, max_value=2**63 - 1))  # fmt: skip
def test_ids_are_deterministic_and_distinguish_their_parts(
    exchange: Exchange, symbol: str, trade_id: int
) -> None:
    first = trade_message_id(exchange, symbol, trade_id)
    assert first == trade_message_id(exchange, symbol, trade_id)
    assert first != trade_message_id(exchange, symbol, trade_id + 1)
    assert first != trade_message_id(exchange, symbol + "X", trade_id)
    other = Exchange.KRAKEN if exchange is Exchange.BINANCE else Exchange.BINANCE
    assert first != trade_message_id(other, symbol, trade_id)


@pytest.mark.parametrize("trade_id", [-1, True, "12"])
def test_trade_ids_must_be_non_negative_integers(trade_id: object) -> None:
    with pytest.raises(InvalidIdentifierError):
        trade_message_id(Exchange.BINANCE, "BTCUSDT", trade_id)  # type: ignore[arg-type]


@pytest.mark.parametrize("symbol", ["", "BTC|USD"])
def test_symbols_that_would_make_ids_ambiguous_are_refused(symbol: str) -> None:
    with pytest.raises(InvalidIdentifierError):
        trade_message_id(Exchange.KRAKEN, symbol, 1)


def test_empty_quote_key_is_refused() -> None:
    with pytest.raises(InvalidIdentifierError):
        quote_message_id(Exchange.KRAKEN, "BTCUSD", "")
