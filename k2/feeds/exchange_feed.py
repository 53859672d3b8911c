"""What the feed handler needs to know about one exchange, behind one interface.

The handler, the WebSocket session and the gap logic are the same for every exchange; an
``ExchangeFeed`` supplies the URL, the subscribe requests, the frame parser, the identity of a
trade or quote, and the REST backfill.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from k2.domain.markets import Exchange
from k2.feeds.frames import ParsedFrame
from k2.feeds.trade_sequence import IdRange

TradeT = TypeVar("TradeT")
QuoteT = TypeVar("QuoteT")

Clock = Callable[[], int]
"""Returns the current UTC time in epoch microseconds."""


class ExchangeFeed(Protocol[TradeT, QuoteT]):
    """One exchange's protocol as the feed handler uses it."""

    exchange: Exchange
    symbols: tuple[str, ...]
    """The exchange spellings this feed subscribes to."""

    def stream_url(self) -> str:
        """The WebSocket URL to connect to (already naming the streams, where the exchange
        subscribes by URL)."""
        ...

    def subscribe_requests(self) -> list[str]:
        """Text frames to send right after connecting (empty where the URL subscribes)."""
        ...

    def parse(self, frame: bytes | str, received_at_us: int) -> ParsedFrame[TradeT, QuoteT]:
        """Parse a frame; raises ``FrameParseError`` only."""
        ...

    def trade_identity(self, trade: TradeT) -> tuple[str, int, int]:
        """(exchange symbol, trade id, trade time in UTC microseconds)."""
        ...

    def published_trade_identity(self, record: dict[str, Any]) -> tuple[str, int, int]:
        """``trade_identity`` of a raw trade read back from Kafka (a decoded Avro record)."""
        ...

    def quote_identity(self, quote: QuoteT) -> tuple[str, str]:
        """(exchange symbol, deterministic quote key)."""
        ...

    def record_key(self, exchange_symbol: str) -> str:
        """The Kafka key: the normalised symbol. Raises ``DomainError`` for an unknown one."""
        ...

    async def backfill(
        self, exchange_symbol: str, ids: IdRange, *, since_us: int, clock: Clock
    ) -> list[TradeT]:
        """The trades with ids in ``ids`` the exchange still serves, in id order.

        ``since_us`` is the time of the last trade published before the gap (Kraken pages its
        REST trades by time). Raises ``BackfillError`` when the exchange cannot be reached.
        """
        ...
