"""``trade_v2``: one executed trade, normalised, exact, with a deterministic id."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from k2.domain.decimals import check_fits
from k2.domain.errors import InvalidIdentifierError, InvalidSideError, InvalidTimestampError
from k2.domain.ids import trade_message_id
from k2.domain.markets import Exchange
from k2.domain.symbols import Instrument


class Side(StrEnum):
    """The taker's (aggressor's) side: BUY lifted an offer, SELL hit a bid."""

    BUY = "BUY"
    SELL = "SELL"


def side_from_taker(text: str) -> Side:
    """Side from a taker side spelled ``buy``/``sell`` in any case (Kraken's spelling)."""
    try:
        return Side(text.upper())
    except ValueError as exc:
        raise InvalidSideError(f"unknown taker side {text[:20]!r}") from exc


def side_from_buyer_is_maker(buyer_is_maker: bool) -> Side:
    """Binance's ``m``: true means the buyer's order was resting, so the taker SOLD."""
    return Side.SELL if buyer_is_maker else Side.BUY


def check_micros(name: str, value: int) -> int:
    """A timestamp field must already be integer UTC microseconds (never a float or datetime)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidTimestampError(f"{name} must be non-negative integer microseconds: {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class TradeV2:
    """A trade as K2 stores it from silver onwards. Construct with :meth:`create`."""

    message_id: str
    exchange: Exchange
    symbol: str
    exchange_symbol: str
    base_asset: str
    quote_asset: str
    trade_id: int
    timestamp: int
    price: Decimal
    quantity: Decimal
    side: Side
    ingestion_timestamp: int

    def __post_init__(self) -> None:
        check_fits(self.price)
        check_fits(self.quantity)
        check_micros("timestamp", self.timestamp)
        check_micros("ingestion_timestamp", self.ingestion_timestamp)
        expected = trade_message_id(self.exchange, self.symbol, self.trade_id)
        if self.message_id != expected:
            raise InvalidIdentifierError(
                "message_id is not the hash of (exchange, symbol, trade_id)"
            )

    @classmethod
    def create(
        cls,
        instrument: Instrument,
        *,
        trade_id: int,
        timestamp: int,
        price: Decimal,
        quantity: Decimal,
        side: Side,
        ingestion_timestamp: int,
    ) -> TradeV2:
        """Build a trade, deriving ``message_id`` and the symbols from ``instrument``."""
        return cls(
            message_id=trade_message_id(instrument.exchange, instrument.symbol, trade_id),
            exchange=instrument.exchange,
            symbol=instrument.symbol,
            exchange_symbol=instrument.exchange_symbol,
            base_asset=instrument.base_asset,
            quote_asset=instrument.quote_asset,
            trade_id=trade_id,
            timestamp=timestamp,
            price=price,
            quantity=quantity,
            side=side,
            ingestion_timestamp=ingestion_timestamp,
        )
