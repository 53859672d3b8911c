"""Exchange symbols to K2's normalised symbol: base + quote, no separator, common asset codes.

The exchange's own spelling is always kept next to the normalised one, because that is what the
exchange's REST backfill and subscriptions need.
"""

from __future__ import annotations

from dataclasses import dataclass

from k2.domain.errors import UnknownSymbolError
from k2.domain.markets import Exchange

# Kraken's legacy asset codes (still used by its REST API and v1 feed) and the codes everyone
# else uses. v2 already sends BTC/DOGE, but REST backfill and old recordings do not.
ASSET_ALIASES: dict[str, str] = {"XBT": "BTC", "XDG": "DOGE"}

# Quote assets Binance spot lists, longest first so that e.g. FDUSD wins over USD-like suffixes.
# A Binance symbol has no separator, so the quote is found as a known suffix; a symbol with no
# known quote is refused rather than guessed (the system we rebuild took the last 4 characters).
BINANCE_QUOTE_ASSETS: tuple[str, ...] = (
    "FDUSD",
    "USDT",
    "USDC",
    "TUSD",
    "BUSD",
    "USDP",
    "EURI",
    "BIDR",
    "IDRT",
    "DAI",
    "BTC",
    "ETH",
    "BNB",
    "XRP",
    "TRX",
    "DOGE",
    "EUR",
    "GBP",
    "TRY",
    "BRL",
    "JPY",
    "AUD",
    "ARS",
    "MXN",
    "PLN",
    "RON",
    "UAH",
    "ZAR",
    "COP",
    "CZK",
)


@dataclass(frozen=True, slots=True)
class Instrument:
    """One tradable pair as an exchange names it and as K2 names it."""

    exchange: Exchange
    exchange_symbol: str
    base_asset: str
    quote_asset: str

    @property
    def symbol(self) -> str:
        """The normalised symbol, e.g. ``BTCUSDT`` (Binance) or ``BTCUSD`` (Kraken XBT/USD)."""
        return f"{self.base_asset}{self.quote_asset}"


def normalise_asset(code: str) -> str:
    """An asset code in upper case with exchange-specific legacy codes replaced."""
    upper = code.upper()
    return ASSET_ALIASES.get(upper, upper)


def _check_asset(code: str, exchange_symbol: str) -> None:
    if not code or not code.isascii() or not code.isalnum():
        raise UnknownSymbolError(f"cannot read an asset code in {exchange_symbol[:40]!r}")


def binance_instrument(
    exchange_symbol: str, quote_assets: tuple[str, ...] = BINANCE_QUOTE_ASSETS
) -> Instrument:
    """Split a Binance symbol (``BTCUSDT``, any case) at its longest known quote-asset suffix."""
    _check_asset(exchange_symbol, exchange_symbol)
    upper = exchange_symbol.upper()
    for quote in sorted(quote_assets, key=len, reverse=True):
        if upper.endswith(quote) and len(upper) > len(quote):
            base = upper[: -len(quote)]
            return Instrument(
                Exchange.BINANCE, exchange_symbol, normalise_asset(base), normalise_asset(quote)
            )
    raise UnknownSymbolError(f"no known quote asset ends Binance symbol {exchange_symbol[:40]!r}")


def kraken_instrument(exchange_symbol: str) -> Instrument:
    """Split a Kraken v2 symbol (``BTC/USD``, also legacy ``XBT/USD``) at its slash."""
    parts = exchange_symbol.split("/")
    if len(parts) != 2:
        raise UnknownSymbolError(f"Kraken symbol is not BASE/QUOTE: {exchange_symbol[:40]!r}")
    for part in parts:
        _check_asset(part, exchange_symbol)
    base, quote = parts
    return Instrument(
        Exchange.KRAKEN, exchange_symbol, normalise_asset(base), normalise_asset(quote)
    )


def instrument(exchange: Exchange, exchange_symbol: str) -> Instrument:
    """The instrument for a symbol as ``exchange`` spells it."""
    if exchange is Exchange.BINANCE:
        return binance_instrument(exchange_symbol)
    return kraken_instrument(exchange_symbol)
