"""Seeded synthetic markets: a random walk in ticks, realistic sizes, multi-fill taker orders.

Every draw comes from a generator seeded with (seed, exchange, symbol), so the sequence of
trades (prices, quantities, sides, id increments) is the same on every run with the same seed.
Timestamps follow the wall clock, and so does where the ids start: a seeded base plus the start
time in milliseconds, so a restarted simulator never re-issues ids an earlier run already used
(as long as that run averaged under 1,000 trades/s), just as a real exchange never does; a feed
handler that resumes from Kafka relies on that. Trade ids are contiguous per symbol (Binance
``t``, Kraken ``trade_id``) and trade times strictly increase per symbol, so a time cursor
(Kraken REST ``since``) never splits two trades that share a timestamp.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Literal

from k2.domain.markets import Exchange

from .config import SymbolSpec

Side = Literal["buy", "sell"]
OrdType = Literal["limit", "market"]


@dataclass(frozen=True, slots=True)
class Trade:
    """One execution; ``side`` is the taker's side."""

    exchange: Exchange
    symbol: str
    trade_id: int
    price: Decimal
    qty: Decimal
    time_us: int
    side: Side
    ord_type: OrdType


@dataclass(frozen=True, slots=True)
class Quote:
    """Best bid and offer after an event; ``update_id`` is Binance's order book update id."""

    symbol: str
    update_id: int
    bid: Decimal
    bid_qty: Decimal
    ask: Decimal
    ask_qty: Decimal
    time_us: int


@dataclass(frozen=True, slots=True)
class TickerStats:
    """Session statistics Kraken's ticker carries (since start, standing in for 24 h)."""

    last: Decimal
    volume: Decimal
    vwap: Decimal
    low: Decimal
    high: Decimal
    change: Decimal
    change_pct: Decimal


class SymbolMarket:
    """The order book top and trade tape of one symbol."""

    def __init__(self, exchange: Exchange, spec: SymbolSpec, seed: int) -> None:
        self.exchange = exchange
        self.spec = spec
        # Seeded on purpose: reproducible markets, nothing secret.
        self._rng = random.Random(f"{seed}:{exchange.value}:{spec.symbol}")  # noqa: S311
        self._tick = spec.tick_size
        self._bid_ticks = int(spec.start_price / spec.tick_size)
        self._spread = 1
        # Real ids are large numbers well past zero; start somewhere plausible, per seed, and
        # above anything an earlier run issued.
        low, high = (10**9, 5 * 10**9) if exchange is Exchange.BINANCE else (10**6, 10**8)
        self._next_id = self._rng.randrange(low, high) + time.time_ns() // 1_000_000
        self._update_id = self._rng.randrange(10**10, 6 * 10**10)
        self._last_time_us = 0
        # How far the mid moves per event: about 0.2 basis points of the price.
        self._vol_ticks = max(1.0, float(spec.start_price) * 0.00002 / float(spec.tick_size))
        self._bid_qty = self._size()
        self._ask_qty = self._size()
        self._open: Decimal | None = None
        self._low = self._high = self._last = spec.start_price
        self._volume = Decimal(0)
        self._notional = Decimal(0)

    @property
    def next_trade_id(self) -> int:
        return self._next_id

    def trade_batch(self, now_us: int, size: int) -> tuple[list[Trade], Quote]:
        """One taker order filling ``size`` makers, walking the book on its side."""
        side: Side = "buy" if self._rng.random() < 0.5 else "sell"
        ord_type: OrdType = "market" if self._rng.random() < 0.4 else "limit"
        level = self._bid_ticks + self._spread if side == "buy" else self._bid_ticks
        trades: list[Trade] = []
        for index in range(size):
            if index and self._rng.random() < 0.4:
                level += 1 if side == "buy" else -1
            level = max(level, 1)
            price = level * self._tick
            qty = self._size()
            self._last_time_us = max(now_us, self._last_time_us + 1)
            trades.append(
                Trade(
                    exchange=self.exchange,
                    symbol=self.spec.symbol,
                    trade_id=self._next_id,
                    price=price,
                    qty=qty,
                    time_us=self._last_time_us,
                    side=side,
                    ord_type=ord_type,
                )
            )
            self._next_id += 1
            self._account(price, qty)
        # The sweep leaves the book where it stopped, then the usual drift applies.
        self._bid_ticks = level - self._spread if side == "buy" else level
        return trades, self.quote_change(now_us)

    def quote_change(self, now_us: int) -> Quote:
        """Move the top of book one random step and report it."""
        self._bid_ticks = max(100, self._bid_ticks + round(self._rng.gauss(0.0, self._vol_ticks)))
        self._spread = 1 if self._rng.random() < 0.7 else self._rng.randint(2, 4)
        self._bid_qty = self._size()
        self._ask_qty = self._size()
        self._update_id += self._rng.randint(1, 20)
        return self.top(now_us)

    def top(self, now_us: int) -> Quote:
        """The current top of book, without moving it (for snapshots)."""
        return Quote(
            symbol=self.spec.symbol,
            update_id=self._update_id,
            bid=self._bid_ticks * self._tick,
            bid_qty=self._bid_qty,
            ask=(self._bid_ticks + self._spread) * self._tick,
            ask_qty=self._ask_qty,
            time_us=max(now_us, self._last_time_us),
        )

    def ticker(self) -> TickerStats:
        opening = self._open if self._open is not None else self.spec.start_price
        vwap = (self._notional / self._volume) if self._volume else self._last
        change = self._last - opening
        change_pct = (change / opening * 100).quantize(Decimal("0.01"))
        return TickerStats(
            last=self._last,
            volume=self._volume,
            vwap=vwap.quantize(self._tick),
            low=self._low,
            high=self._high,
            change=abs(change) if change == 0 else change,  # never "-0.0" on the wire
            change_pct=abs(change_pct) if change_pct == 0 else change_pct,
        )

    def _size(self) -> Decimal:
        """Log-normal trade size around the typical size, on the exchange's quantity step."""
        factor = math.exp(self._rng.gauss(0.0, 1.1))
        raw = self.spec.typical_qty * Decimal(str(round(min(factor, 60.0), 6)))
        qty = raw.quantize(self.spec.qty_step, rounding=ROUND_DOWN)
        return max(qty, self.spec.qty_step)

    def _account(self, price: Decimal, qty: Decimal) -> None:
        if self._open is None:
            self._open = price
            self._low = self._high = price
        self._last = price
        self._low = min(self._low, price)
        self._high = max(self._high, price)
        self._volume += qty
        self._notional += price * qty
