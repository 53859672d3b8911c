"""``quote_v2``: one best bid/ask update, normalised, exact, with a deterministic id."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from k2.domain.decimals import check_fits
from k2.domain.ids import quote_message_id
from k2.domain.markets import Exchange
from k2.domain.symbols import Instrument
from k2.domain.trade import check_micros


@dataclass(frozen=True, slots=True)
class QuoteV2:
    """A top-of-book update. Construct with :meth:`create`.

    ``exchange_timestamp`` is the exchange's own time for the update when it sends one (Kraken
    ticker) and ``None`` when it does not (Binance spot ``bookTicker`` carries no time): K2 never
    invents an exchange time. ``update_id`` is the exchange's order-book update id when it has one.
    """

    message_id: str
    exchange: Exchange
    symbol: str
    exchange_symbol: str
    base_asset: str
    quote_asset: str
    update_id: int | None
    exchange_timestamp: int | None
    bid_price: Decimal
    bid_quantity: Decimal
    ask_price: Decimal
    ask_quantity: Decimal
    ingestion_timestamp: int

    def __post_init__(self) -> None:
        for value in (self.bid_price, self.bid_quantity, self.ask_price, self.ask_quantity):
            check_fits(value)
        if self.exchange_timestamp is not None:
            check_micros("exchange_timestamp", self.exchange_timestamp)
        check_micros("ingestion_timestamp", self.ingestion_timestamp)

    @property
    def timestamp(self) -> int:
        """The best time known for the update: the exchange's, else when K2 received it."""
        if self.exchange_timestamp is not None:
            return self.exchange_timestamp
        return self.ingestion_timestamp

    @classmethod
    def create(
        cls,
        instrument: Instrument,
        *,
        quote_key: str,
        update_id: int | None,
        exchange_timestamp: int | None,
        bid_price: Decimal,
        bid_quantity: Decimal,
        ask_price: Decimal,
        ask_quantity: Decimal,
        ingestion_timestamp: int,
    ) -> QuoteV2:
        """Build a quote; ``quote_key`` identifies the update within its symbol (see ``ids``)."""
        return cls(
            message_id=quote_message_id(instrument.exchange, instrument.symbol, quote_key),
            exchange=instrument.exchange,
            symbol=instrument.symbol,
            exchange_symbol=instrument.exchange_symbol,
            base_asset=instrument.base_asset,
            quote_asset=instrument.quote_asset,
            update_id=update_id,
            exchange_timestamp=exchange_timestamp,
            bid_price=bid_price,
            bid_quantity=bid_quantity,
            ask_price=ask_price,
            ask_quantity=ask_quantity,
            ingestion_timestamp=ingestion_timestamp,
        )
