import pytest

from k2.domain.errors import UnknownSymbolError
from k2.domain.markets import Exchange
from k2.domain.symbols import binance_instrument, instrument, kraken_instrument

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("exchange_symbol", "base", "quote"),
    [
        ("BTCUSDT", "BTC", "USDT"),
        ("ETHUSDT", "ETH", "USDT"),
        ("ETHBTC", "ETH", "BTC"),
        ("BNBBTC", "BNB", "BTC"),
        ("BTCFDUSD", "BTC", "FDUSD"),
        ("USDCUSDT", "USDC", "USDT"),
        ("BTCEUR", "BTC", "EUR"),
        ("btcusdt", "BTC", "USDT"),
    ],
)
def test_binance_symbols_split_at_the_quote_asset(
    exchange_symbol: str, base: str, quote: str
) -> None:
    got = binance_instrument(exchange_symbol)
    assert (got.base_asset, got.quote_asset, got.symbol) == (base, quote, base + quote)
    assert got.exchange_symbol == exchange_symbol
    assert got.exchange is Exchange.BINANCE


@pytest.mark.parametrize("exchange_symbol", ["FOOBAR", "USDT", "", "BTC/USDT", "BTCUSDT ", "ßUSDT"])
def test_binance_symbols_without_a_known_quote_are_refused(exchange_symbol: str) -> None:
    with pytest.raises(UnknownSymbolError) as caught:
        binance_instrument(exchange_symbol)
    assert caught.value.reason == "unknown_symbol"


def test_binance_quote_list_is_configurable() -> None:
    assert binance_instrument("FOOBAR", ("BAR",)).symbol == "FOOBAR"


@pytest.mark.parametrize(
    ("exchange_symbol", "symbol", "base", "quote"),
    [
        ("BTC/USD", "BTCUSD", "BTC", "USD"),
        ("XBT/USD", "BTCUSD", "BTC", "USD"),
        ("XDG/EUR", "DOGEEUR", "DOGE", "EUR"),
        ("ETH/XBT", "ETHBTC", "ETH", "BTC"),
        ("MATIC/USD", "MATICUSD", "MATIC", "USD"),
    ],
)
def test_kraken_symbols_drop_the_slash_and_legacy_codes(
    exchange_symbol: str, symbol: str, base: str, quote: str
) -> None:
    got = kraken_instrument(exchange_symbol)
    assert (got.symbol, got.base_asset, got.quote_asset) == (symbol, base, quote)
    assert got.exchange_symbol == exchange_symbol


@pytest.mark.parametrize("exchange_symbol", ["BTCUSD", "BTC/US/D", "/USD", "BTC/", "BT C/USD"])
def test_kraken_symbols_must_be_base_slash_quote(exchange_symbol: str) -> None:
    with pytest.raises(UnknownSymbolError):
        kraken_instrument(exchange_symbol)


def test_instrument_dispatches_on_exchange() -> None:
    assert instrument(Exchange.KRAKEN, "XBT/USDT").symbol == "BTCUSDT"
    assert instrument(Exchange.BINANCE, "BTCUSDT").symbol == "BTCUSDT"
