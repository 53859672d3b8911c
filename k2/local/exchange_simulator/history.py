"""Recent trades of one symbol, the store the REST backfill endpoints read.

Every trade the market makes lands here, including those a skip fault kept off the WebSocket:
that is what makes a gap recoverable. Bounded: the oldest trades are dropped past ``max_size``.
"""

from __future__ import annotations

from bisect import bisect_right

from .market import Trade


class TradeHistory:
    """Trades in id order (ids are contiguous, so an id maps straight to a position)."""

    def __init__(self, max_size: int) -> None:
        self._max_size = max(max_size, 1)
        self._trades: list[Trade] = []

    def __len__(self) -> int:
        return len(self._trades)

    def append(self, trade: Trade) -> None:
        self._trades.append(trade)
        if len(self._trades) > 2 * self._max_size:
            del self._trades[: len(self._trades) - self._max_size]

    def latest(self, count: int) -> list[Trade]:
        """The ``count`` most recent trades, oldest first."""
        return self._trades[-count:] if count > 0 else []

    def from_id(self, first_id: int, limit: int) -> list[Trade]:
        """Up to ``limit`` trades with id >= ``first_id`` (from the oldest kept, if older)."""
        if not self._trades or limit <= 0:
            return []
        start = max(0, first_id - self._trades[0].trade_id)
        return self._trades[start : start + limit]

    def after_time_ns(self, since_ns: int, limit: int) -> list[Trade]:
        """Up to ``limit`` trades strictly after ``since_ns`` (Kraken's ``since`` cursor)."""
        start = bisect_right(self._trades, since_ns, key=lambda trade: trade.time_us * 1000)
        return self._trades[start : start + limit]
