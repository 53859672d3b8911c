"""Which trade ids of one symbol have been published, and which are missing.

Both exchanges number trades contiguously per symbol (Binance ``t``, Kraken ``trade_id``), so
the published ids are a contiguous run up to a *watermark* plus a few ids above it that arrived
after a hole. Any id at or below the watermark, or already above it, is a duplicate (reconnect
overlap, Kraken's subscribe snapshot, a backfill racing the socket). An id beyond everything
seen opens a gap: the ids between are what the REST backfill must fetch. Ranges given up on are
kept as ranges, so a huge hole (a long outage) costs no memory per id.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class IdRange:
    """Trade ids ``first`` to ``last``, both included."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ValueError(f"empty id range {self.first}..{self.last}")

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __str__(self) -> str:
        return f"{self.first}..{self.last}"


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict on one trade id: publish it or not, and the ids it revealed as missing."""

    publish: bool
    gap: IdRange | None = None


@dataclass
class TradeSequence:
    """Published ids of one symbol; ``watermark`` None means nothing is known yet."""

    watermark: int | None = None
    _ahead: set[int] = field(default_factory=set)
    _abandoned: list[IdRange] = field(default_factory=list)  # above the watermark, sorted
    _highest: int | None = None

    @classmethod
    def resuming_with(cls, published: Iterable[int]) -> TradeSequence:
        """A sequence that already holds ``published`` (a restart reads them from Kafka).

        Holes between them stay missing, so the caller can backfill them.
        """
        ids = sorted(set(published))
        if not ids:
            return cls()
        sequence = cls(watermark=ids[0], _ahead=set(ids[1:]), _highest=ids[-1])
        sequence._advance()
        return sequence

    def admit(self, trade_id: int) -> Admission:
        """Record ``trade_id`` as published unless it already was."""
        if self.watermark is None or self._highest is None:
            self.watermark = self._highest = trade_id
            return Admission(publish=True)
        if trade_id <= self.watermark or trade_id in self._ahead or self._is_abandoned(trade_id):
            return Admission(publish=False)
        gap = None
        if trade_id > self._highest + 1:
            gap = IdRange(self._highest + 1, trade_id - 1)
        self._highest = max(self._highest, trade_id)
        self._ahead.add(trade_id)
        self._advance()
        return Admission(publish=True, gap=gap)

    def abandon(self, ids: IdRange) -> list[IdRange]:
        """Give up on ``ids`` (the exchange no longer serves them): the watermark may pass them.

        Returns the sub-ranges that were really still missing, for the gap record.
        """
        missing = self.missing_within(ids)
        for run in missing:
            bisect.insort(self._abandoned, run, key=lambda item: item.first)
        self._advance()
        return missing

    def missing_within(self, ids: IdRange) -> list[IdRange]:
        """The ids of ``ids`` not published (nor abandoned) yet, as contiguous runs."""
        if self.watermark is None:
            return [ids]
        first = max(ids.first, self.watermark + 1)
        known = sorted(
            [IdRange(i, i) for i in self._ahead if first <= i <= ids.last]
            + [r for r in self._abandoned if r.last >= first and r.first <= ids.last],
            key=lambda item: item.first,
        )
        runs: list[IdRange] = []
        cursor = first
        for run in known:
            if run.first > cursor:
                runs.append(IdRange(cursor, run.first - 1))
            cursor = max(cursor, run.last + 1)
        if cursor <= ids.last:
            runs.append(IdRange(cursor, ids.last))
        return runs

    @property
    def highest(self) -> int | None:
        """The highest id published so far."""
        return self._highest

    def _is_abandoned(self, trade_id: int) -> bool:
        return any(run.first <= trade_id <= run.last for run in self._abandoned)

    def _advance(self) -> None:
        assert self.watermark is not None
        while True:
            if self.watermark + 1 in self._ahead:
                self.watermark += 1
                self._ahead.discard(self.watermark)
            elif self._abandoned and self._abandoned[0].first <= self.watermark + 1:
                self.watermark = max(self.watermark, self._abandoned.pop(0).last)
            else:
                return
