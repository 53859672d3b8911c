"""Settings of one simulator run: ports, seed, rate, symbols, timings and faults.

Timings default to the real exchanges' values (Binance pings every 20 s, closes after 24 h);
tests shrink them so a protocol rule can be exercised in a fraction of a second.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from k2.domain.markets import Exchange

from .faults import FaultProbabilities, ScheduledFault


@dataclass(frozen=True)
class SymbolSpec:
    """One market: the exchange's spelling, a starting price and the exchange's increments."""

    symbol: str
    start_price: Decimal
    tick_size: Decimal
    qty_step: Decimal
    typical_qty: Decimal


_KNOWN: dict[Exchange, dict[str, SymbolSpec]] = {
    Exchange.BINANCE: {
        "BTCUSDT": SymbolSpec(
            "BTCUSDT", Decimal("65000.00"), Decimal("0.01"), Decimal("0.00001"), Decimal("0.01")
        ),
        "ETHUSDT": SymbolSpec(
            "ETHUSDT", Decimal("3500.00"), Decimal("0.01"), Decimal("0.0001"), Decimal("0.2")
        ),
    },
    Exchange.KRAKEN: {
        "BTC/USD": SymbolSpec(
            "BTC/USD", Decimal("65000.0"), Decimal("0.1"), Decimal("0.00000001"), Decimal("0.01")
        ),
        "ETH/USD": SymbolSpec(
            "ETH/USD", Decimal("3500.00"), Decimal("0.01"), Decimal("0.00000001"), Decimal("0.2")
        ),
    },
}


def symbol_spec(exchange: Exchange, symbol: str) -> SymbolSpec:
    """The spec of a known market, or a generic one (price 100) for any other symbol."""
    known = _KNOWN[exchange].get(symbol)
    if known is not None:
        return known
    step = Decimal("0.00001") if exchange is Exchange.BINANCE else Decimal("0.00000001")
    return SymbolSpec(symbol, Decimal("100.00"), Decimal("0.01"), step, Decimal("1"))


def loopback_host(host: str) -> str:
    """Accept only loopback addresses: the simulator must never listen beyond this machine."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host must be a loopback IP address, got {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"host must be a loopback address, got {host!r}")
    return host


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything one run needs. Port 0 picks a free ephemeral port.

    ``rate`` is the average number of trades per second per exchange (bursts included; quote
    changes come on top); 0 means as fast as the event loop allows.
    """

    host: str = "127.0.0.1"
    binance_port: int = 0
    kraken_port: int = 0
    control_port: int | None = 0
    seed: int = 0
    rate: float = 50.0
    binance_symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    kraken_symbols: tuple[str, ...] = ("BTC/USD", "ETH/USD")
    ground_truth: Path | None = None
    ping_interval: float = 20.0
    ping_timeout: float = 60.0
    binance_max_lifetime: float | None = 24 * 60 * 60.0
    kraken_max_lifetime: float | None = None
    heartbeat_interval: float = 1.0
    shutdown_grace: float = 1.0
    stall_duration: float = 30.0
    history_size: int = 200_000
    snapshot_size: int = 50
    send_queue_size: int = 100_000
    wait_for_subscriber: bool = False
    fault_probabilities: FaultProbabilities = field(default_factory=FaultProbabilities)
    fault_schedule: tuple[ScheduledFault, ...] = ()

    def __post_init__(self) -> None:
        loopback_host(self.host)
        if self.rate < 0:
            raise ValueError("rate must be >= 0")
        if not self.binance_symbols or not self.kraken_symbols:
            raise ValueError("each exchange needs at least one symbol")

    def symbols(self, exchange: Exchange) -> tuple[str, ...]:
        return self.binance_symbols if exchange is Exchange.BINANCE else self.kraken_symbols

    def max_lifetime(self, exchange: Exchange) -> float | None:
        if exchange is Exchange.BINANCE:
            return self.binance_max_lifetime
        return self.kraken_max_lifetime
