"""One simulated exchange: its markets, its trade history and the stream of wire events.

The engine runs like a real venue: trades happen at the configured rate whether or not anyone
is connected, every trade is recorded (ground truth, REST history) before anything is sent, and
each open connection receives the events and renders them in its own protocol. Data faults are
decided here, once per trade, so every connection sees the same gaps and duplicates.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from k2.domain.markets import Exchange

from . import binance_protocol, jsonfmt
from .config import SimulatorConfig, symbol_spec
from .faults import CONNECTION_FAULTS, FaultController, FaultKind, FaultRequest, MalformedKind
from .ground_truth import GroundTruthLog
from .history import TradeHistory
from .market import Quote, SymbolMarket, TickerStats, Trade

# Share of events that are in a burst, and how much faster bursts run; the quiet periods run
# slightly slower so the long-run average stays at the configured rate.
_BURST_START = 0.001
_BURST_SPEEDUP = 4.0
_QUIET_FACTOR = 1.0 / (1.0 - 0.1 + 0.1 / _BURST_SPEEDUP)
_MAX_TRADES_PER_WAKE = 5000


@dataclass(frozen=True, slots=True)
class TradesOut:
    """Trades to send (skipped ones already removed); one Kraken message, one Binance frame each."""

    symbol: str
    trades: tuple[Trade, ...]


@dataclass(frozen=True, slots=True)
class QuoteOut:
    quote: Quote
    stats: TickerStats
    after_trade: bool


@dataclass(frozen=True, slots=True)
class MalformedOut:
    kind: MalformedKind
    symbol: str


WireEvent = TradesOut | QuoteOut | MalformedOut


class Session(Protocol):
    """An open connection, as the engine sees it."""

    def deliver(self, event: WireEvent) -> None: ...

    def connection_fault(self, request: FaultRequest) -> None: ...

    def end_stall(self) -> None: ...

    @property
    def backlog(self) -> int: ...


def now_us() -> int:
    return time.time_ns() // 1000


class ExchangeEngine:
    """Generates one exchange's market and fans it out to its connections."""

    def __init__(
        self, exchange: Exchange, config: SimulatorConfig, ground_truth: GroundTruthLog
    ) -> None:
        self.exchange = exchange
        self.config = config
        self.ground_truth = ground_truth
        symbols = config.symbols(exchange)
        self.markets = {
            symbol: SymbolMarket(exchange, symbol_spec(exchange, symbol), config.seed)
            for symbol in symbols
        }
        self.histories = {symbol: TradeHistory(config.history_size) for symbol in symbols}
        self.faults = FaultController(
            exchange,
            config.fault_probabilities,
            random.Random(f"{config.seed}:{exchange.value}:faults"),  # noqa: S311 (simulation)
        )
        self._rng = random.Random(f"{config.seed}:{exchange.value}:engine")  # noqa: S311
        self._symbols = list(symbols)
        self._sessions: set[Session] = set()
        self._subscribed = asyncio.Event()
        self._burst_left = 0
        self._price_text: Callable[[Decimal], str] = (
            binance_protocol.wire_decimal if exchange is Exchange.BINANCE else jsonfmt.number_text
        )

    @property
    def connections(self) -> int:
        return len(self._sessions)

    def attach(self, session: Session) -> None:
        self._sessions.add(session)

    def detach(self, session: Session) -> None:
        self._sessions.discard(session)

    def mark_subscribed(self) -> None:
        """A client subscribed: with ``wait_for_subscriber`` this starts the market."""
        self._subscribed.set()

    def inject(self, request: FaultRequest) -> None:
        """Apply a fault now: data faults are queued, connection faults hit every connection."""
        if not request.applies_to(self.exchange):
            return
        if request.fault not in CONNECTION_FAULTS:
            self.faults.inject(request)
            return
        counter = {
            FaultKind.DISCONNECT: "disconnects",
            FaultKind.SERVER_SHUTDOWN: "server_shutdowns",
            FaultKind.STALL: "stalls",
        }[request.fault]
        sessions = list(self._sessions)
        self.ground_truth.count(counter, self.exchange, len(sessions))
        for session in sessions:
            session.connection_fault(request)

    def clear_faults(self) -> None:
        """Stop injecting: queued and background faults off, stalls ended."""
        self.faults.clear()
        for session in list(self._sessions):
            session.end_stall()

    async def run(self) -> None:
        """Make trades at the configured rate (0: as fast as clients drain) until cancelled."""
        if self.config.wait_for_subscriber:
            await self._subscribed.wait()
        loop = asyncio.get_running_loop()
        start = last = loop.time()
        virtual = 0.0
        rate = self.config.rate
        while True:
            now = loop.time()
            budget = _MAX_TRADES_PER_WAKE
            if rate > 0:
                while virtual <= now - start and budget > 0:
                    made = self.step(now_us())
                    budget -= made
                    virtual += self._gap(made, rate)
            else:
                # As fast as the slowest client drains: wait for room rather than overflow,
                # and make nothing while nobody listens (it would only starve the loop).
                while not self._sessions or any(
                    s.backlog > _MAX_TRADES_PER_WAKE for s in list(self._sessions)
                ):
                    await asyncio.sleep(0.001)
                while budget > 0:
                    budget -= self.step(now_us())
            for request in self.faults.due_connection_faults(now - last):
                self.inject(request)
            last = now
            self.ground_truth.flush()
            await asyncio.sleep(0.002 if rate > 0 else 0)

    def step(self, at_us: int) -> int:
        """One market event: maybe a quote change, then a taker order; returns trades made."""
        symbol = self._rng.choice(self._symbols)
        market = self.markets[symbol]
        if self._rng.random() < 0.5:
            self._publish(QuoteOut(market.quote_change(at_us), market.ticker(), False))
        roll = self._rng.random()
        size = (
            1 if roll < 0.6 else self._rng.randint(2, 3) if roll < 0.85 else self._rng.randint(4, 8)
        )
        trades, quote = market.trade_batch(at_us, size)
        malformed = self.faults.take_malformed()
        if malformed is not None:
            self._publish(MalformedOut(malformed, symbol))
        history = self.histories[symbol]
        on_wire: list[Trade] = []
        for trade in trades:
            history.append(trade)
            sent = not self.faults.take_skip(symbol)
            self.ground_truth.record_trade(
                trade, self._price_text(trade.price), self._price_text(trade.qty), on_wire=sent
            )
            if sent:
                on_wire.append(trade)
        if on_wire:
            self._publish(TradesOut(symbol, tuple(on_wire)))
            again = tuple(trade for trade in on_wire if self.faults.take_duplicate(symbol))
            if again:
                self.ground_truth.count("duplicated_trades", self.exchange, len(again))
                self._publish(TradesOut(symbol, again))
        self._publish(QuoteOut(quote, market.ticker(), True))
        return len(trades)

    def _publish(self, event: WireEvent) -> None:
        for session in list(self._sessions):
            session.deliver(event)

    def _gap(self, trades: int, rate: float) -> float:
        """Seconds until the next event: exponential inter-arrivals, faster in bursts."""
        if self._burst_left == 0 and self._rng.random() < _BURST_START:
            self._burst_left = self._rng.randint(20, 200)
        factor = _QUIET_FACTOR
        if self._burst_left:
            self._burst_left -= 1
            factor = _QUIET_FACTOR / _BURST_SPEEDUP
        return trades / rate * self._rng.expovariate(1.0) * factor
