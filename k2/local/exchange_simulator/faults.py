"""Fault injection: what can go wrong on an exchange connection, and when it does.

A fault comes from one of three places: a probability (per trade, per frame or per second), an
explicit schedule (seconds after start) or a run-time request (the control endpoint or the
programmatic API). Data faults (skip, duplicate, malformed) are decided here, once per trade or
frame for the whole exchange, so the ground truth stays exact; connection faults (disconnect,
server shutdown, stall) are applied by the engine to every open connection of the exchange.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from k2.domain.markets import Exchange


class FaultKind(StrEnum):
    DISCONNECT = "disconnect"  # abort the TCP connection: no close frame
    SERVER_SHUTDOWN = "server_shutdown"  # Binance serverShutdown / Kraken maintenance, then close
    STALL = "stall"  # send nothing (no data, pings or heartbeats) but keep the socket open
    SKIP = "skip"  # trade ids withheld from the WebSocket, still served by REST
    DUPLICATE = "duplicate"  # the same trade frame sent twice
    MALFORMED = "malformed"  # an extra frame that no parser can accept


CONNECTION_FAULTS = frozenset({FaultKind.DISCONNECT, FaultKind.SERVER_SHUTDOWN, FaultKind.STALL})


class MalformedKind(StrEnum):
    INVALID_JSON = "invalid_json"
    TRUNCATED = "truncated"
    WRONG_TYPES = "wrong_types"


class FaultRequestError(ValueError):
    """A fault request that cannot be applied (unknown fault, exchange, bad count...)."""


@dataclass(frozen=True)
class FaultRequest:
    """One fault to inject, as the control endpoint receives it.

    ``exchange`` None means both exchanges; ``symbol`` (exchange spelling) restricts skip and
    duplicate to one market; ``count`` is how many trades (skip, duplicate) or frames (malformed)
    it affects; ``duration`` is the length of a stall in seconds (None: the configured default).
    """

    fault: FaultKind
    exchange: Exchange | None = None
    symbol: str | None = None
    count: int = 1
    duration: float | None = None
    kind: MalformedKind | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, object]) -> FaultRequest:
        """Validate a decoded JSON object; raise ``FaultRequestError`` with a readable reason."""
        unknown = set(body) - {"fault", "exchange", "symbol", "count", "duration", "kind"}
        if unknown:
            raise FaultRequestError(f"unknown fields: {sorted(unknown)}")
        try:
            fault = FaultKind(str(body.get("fault")))
        except ValueError:
            raise FaultRequestError(
                f"fault must be one of {[k.value for k in FaultKind]}"
            ) from None
        exchange_value = body.get("exchange")
        exchange: Exchange | None = None
        if exchange_value not in (None, "all"):
            try:
                exchange = Exchange(str(exchange_value))
            except ValueError:
                raise FaultRequestError("exchange must be binance, kraken or all") from None
        symbol = body.get("symbol")
        if symbol is not None and not isinstance(symbol, str):
            raise FaultRequestError("symbol must be a string")
        count = body.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise FaultRequestError("count must be a positive integer")
        duration = body.get("duration")
        if duration is not None and (
            isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0
        ):
            raise FaultRequestError("duration must be a positive number of seconds")
        kind_value = body.get("kind")
        kind: MalformedKind | None = None
        if kind_value is not None:
            try:
                kind = MalformedKind(str(kind_value))
            except ValueError:
                raise FaultRequestError(
                    f"kind must be one of {[k.value for k in MalformedKind]}"
                ) from None
        return cls(
            fault=fault,
            exchange=exchange,
            symbol=symbol,
            count=count,
            duration=None if duration is None else float(duration),
            kind=kind,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "fault": self.fault.value,
            "exchange": self.exchange.value if self.exchange else "all",
            "symbol": self.symbol,
            "count": self.count,
            "duration": self.duration,
            "kind": self.kind.value if self.kind else None,
        }

    def applies_to(self, exchange: Exchange) -> bool:
        return self.exchange is None or self.exchange == exchange


@dataclass(frozen=True)
class FaultProbabilities:
    """Background fault rates: per trade (skip, duplicate), per trade message (malformed) and
    per second per exchange (disconnect, server_shutdown, stall)."""

    skip: float = 0.0
    duplicate: float = 0.0
    malformed: float = 0.0
    disconnect: float = 0.0
    server_shutdown: float = 0.0
    stall: float = 0.0

    @classmethod
    def parse(cls, text: str) -> FaultProbabilities:
        """``"skip=0.001,duplicate=0.001"`` -> probabilities (the CLI form)."""
        values: dict[str, float] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, _, number = item.partition("=")
            if name not in cls.__dataclass_fields__:
                raise FaultRequestError(f"unknown fault probability {name!r}")
            probability = float(number)
            if not 0.0 <= probability <= 1.0:
                raise FaultRequestError(f"probability for {name} must be within [0, 1]")
            values[name] = probability
        return cls(**values)


@dataclass(frozen=True)
class ScheduledFault:
    """A fault to inject ``at`` seconds after the simulator started."""

    at: float
    request: FaultRequest

    @classmethod
    def from_json(cls, body: Mapping[str, object]) -> ScheduledFault:
        at = body.get("at")
        if isinstance(at, bool) or not isinstance(at, int | float) or at < 0:
            raise FaultRequestError("at must be a non-negative number of seconds")
        return cls(
            at=float(at),
            request=FaultRequest.from_json(
                {key: value for key, value in body.items() if key != "at"}
            ),
        )


@dataclass
class _Pending:
    symbol: str | None
    remaining: int


@dataclass
class FaultController:
    """Decides the data faults of one exchange; deterministic for a given seed."""

    exchange: Exchange
    probabilities: FaultProbabilities
    rng: random.Random
    _skips: list[_Pending] = field(default_factory=list)
    _duplicates: list[_Pending] = field(default_factory=list)
    _malformed: list[MalformedKind | None] = field(default_factory=list)

    def inject(self, request: FaultRequest) -> None:
        """Queue a data fault; connection faults are applied by the engine directly."""
        if request.fault is FaultKind.SKIP:
            self._skips.append(_Pending(request.symbol, request.count))
        elif request.fault is FaultKind.DUPLICATE:
            self._duplicates.append(_Pending(request.symbol, request.count))
        elif request.fault is FaultKind.MALFORMED:
            self._malformed.extend([request.kind] * request.count)

    def clear(self) -> None:
        """Stop injecting: forget queued faults and switch background probabilities off."""
        self._skips.clear()
        self._duplicates.clear()
        self._malformed.clear()
        self.probabilities = FaultProbabilities()

    def take_skip(self, symbol: str) -> bool:
        return _take(self._skips, symbol) or self._chance(self.probabilities.skip)

    def take_duplicate(self, symbol: str) -> bool:
        return _take(self._duplicates, symbol) or self._chance(self.probabilities.duplicate)

    def take_malformed(self) -> MalformedKind | None:
        """The kind of malformed frame to send before the next trade message, if any."""
        if self._malformed:
            kind = self._malformed.pop(0)
            return kind or self.rng.choice(list(MalformedKind))
        if self._chance(self.probabilities.malformed):
            return self.rng.choice(list(MalformedKind))
        return None

    def due_connection_faults(self, elapsed: float) -> list[FaultRequest]:
        """Connection faults drawn from the per-second probabilities over ``elapsed`` seconds."""
        due: list[FaultRequest] = []
        for kind, probability in (
            (FaultKind.DISCONNECT, self.probabilities.disconnect),
            (FaultKind.SERVER_SHUTDOWN, self.probabilities.server_shutdown),
            (FaultKind.STALL, self.probabilities.stall),
        ):
            if self._chance(min(1.0, probability * elapsed)):
                due.append(FaultRequest(fault=kind, exchange=self.exchange))
        return due

    def _chance(self, probability: float) -> bool:
        return probability > 0.0 and self.rng.random() < probability


def _take(pending: list[_Pending], symbol: str) -> bool:
    for item in pending:
        if item.symbol is None or item.symbol == symbol:
            item.remaining -= 1
            if item.remaining <= 0:
                pending.remove(item)
            return True
    return False
