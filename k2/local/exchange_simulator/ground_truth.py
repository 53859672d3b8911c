"""The ground-truth log: every trade the simulated exchanges produced, each exactly once.

End-to-end tests reconcile Kafka and the lake against this file, so a trade is recorded when the
market makes it, whatever happens to it on the wire afterwards (skipped, duplicated, lost in a
stall). Files, all flushed as the simulator runs:

- ``PATH``: JSON lines, one per trade:
  ``{"exchange", "symbol", "trade_id", "price", "qty", "time_us", "side", "on_wire"}``.
  ``price``/``qty`` are exact decimal strings (compare them as decimals: the wire text of the
  other protocol or of REST may differ in trailing zeros), ``side`` is the taker side,
  ``on_wire`` is false for trades withheld from the WebSocket by a skip fault.
- ``PATH.counts.json``: counters, rewritten atomically: malformed frames sent, duplicated and
  skipped trades, connection faults, per exchange.
- ``PATH.malformed.jsonl``: each malformed frame sent, with its exact text.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import IO

from k2.domain.markets import Exchange

from .market import Trade

COUNTERS = (
    "trades",
    "skipped_trades",
    "duplicated_trades",
    "malformed_frames",
    "disconnects",
    "server_shutdowns",
    "stalls",
)


class GroundTruthLog:
    """Appends trades and counts faults; with no path it only counts (in memory)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._counts: dict[str, dict[str, int]] = {name: defaultdict(int) for name in COUNTERS}
        self._trades: IO[str] | None = None
        self._malformed: IO[str] | None = None
        self._dirty = True
        self._counts_written = 0.0
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._trades = path.open("w", encoding="utf-8")
            self._malformed = self.malformed_path.open("w", encoding="utf-8")
            self._write_counts()

    @property
    def counts_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".counts.json")

    @property
    def malformed_path(self) -> Path:
        assert self.path is not None
        return self.path.with_name(self.path.name + ".malformed.jsonl")

    def record_trade(self, trade: Trade, price: str, qty: str, *, on_wire: bool) -> None:
        self.count("trades", trade.exchange)
        if not on_wire:
            self.count("skipped_trades", trade.exchange)
        if self._trades is not None:
            line = {
                "exchange": trade.exchange.value,
                "symbol": trade.symbol,
                "trade_id": trade.trade_id,
                "price": price,
                "qty": qty,
                "time_us": trade.time_us,
                "side": trade.side,
                "on_wire": on_wire,
            }
            self._trades.write(json.dumps(line, separators=(",", ":")) + "\n")

    def record_malformed(self, exchange: Exchange, kind: str, frame: str) -> None:
        """A malformed frame actually written to a socket; flushed at once (they are rare)."""
        self.count("malformed_frames", exchange)
        if self._malformed is not None:
            line = {"exchange": exchange.value, "kind": kind, "frame": frame}
            self._malformed.write(json.dumps(line) + "\n")
        self.flush(force=True)

    def count(self, name: str, exchange: Exchange, amount: int = 1) -> None:
        self._counts[name][exchange.value] += amount
        self._dirty = True

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            name: {exchange.value: counts.get(exchange.value, 0) for exchange in Exchange}
            for name, counts in self._counts.items()
        }

    def flush(self, *, force: bool = False) -> None:
        """Flush the logs; the counts file at most every 0.2 s unless forced."""
        if self._trades is not None:
            self._trades.flush()
        if self._malformed is not None:
            self._malformed.flush()
        due = force or time.monotonic() - self._counts_written >= 0.2
        if self._dirty and self.path is not None and due:
            self._write_counts()

    def close(self) -> None:
        self.flush(force=True)
        for handle in (self._trades, self._malformed):
            if handle is not None:
                handle.close()
        self._trades = self._malformed = None

    def _write_counts(self) -> None:
        temporary = self.counts_path.with_name(self.counts_path.name + ".tmp")
        temporary.write_text(json.dumps(self.stats(), indent=1), encoding="utf-8")
        temporary.replace(self.counts_path)
        self._dirty = False
        self._counts_written = time.monotonic()
