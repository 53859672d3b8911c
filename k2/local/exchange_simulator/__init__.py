"""Exchange simulator: Binance spot and Kraken v2 wire protocols over seeded synthetic markets,
with fault injection and a ground-truth log of every trade (DESIGN.md §4, issue 3 item 6)."""

from .config import SimulatorConfig, SymbolSpec
from .faults import (
    FaultKind,
    FaultProbabilities,
    FaultRequest,
    FaultRequestError,
    MalformedKind,
    ScheduledFault,
)
from .server import ExchangeSimulator

__all__ = [
    "ExchangeSimulator",
    "FaultKind",
    "FaultProbabilities",
    "FaultRequest",
    "FaultRequestError",
    "MalformedKind",
    "ScheduledFault",
    "SimulatorConfig",
    "SymbolSpec",
]
