"""The one error a frame parser raises: the frame goes, raw, to the exchange's DLQ topic."""

from __future__ import annotations

from k2.domain.markets import Exchange


class FrameParseError(ValueError):
    """A WebSocket frame that is not a message K2 understands.

    Carries the frame's exact bytes so that the DLQ record can hold them: nothing is lost, and the
    frame can be replayed through a fixed parser later.
    """

    def __init__(self, exchange: Exchange, raw: bytes, reason: str) -> None:
        super().__init__(f"{exchange.value} frame not parsed: {reason}")
        self.exchange = exchange
        self.raw = raw
        self.reason = reason
