"""The feed handler: one exchange's WebSocket frames into Kafka, every trade exactly once.

Frames leave the session's bounded queue in arrival order and are parsed here. A frame no parser
accepts goes, byte for byte, to the exchange's DLQ topic. Trades pass the per-symbol
:class:`~k2.feeds.trade_sequence.TradeSequence`: copies are dropped, and an id beyond the next
expected one opens a gap that a background task fills from the exchange's REST history; ids the
exchange no longer serves are recorded as a gap record rather than hidden. Quotes are
deduplicated by their deterministic key. Stopping drains the queue, waits for running backfills
and flushes the producer, so a SIGTERM loses nothing already received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Generic

from k2.domain.errors import DomainError
from k2.feeds.exchange_feed import Clock, ExchangeFeed, QuoteT, TradeT
from k2.feeds.frame_errors import FrameParseError
from k2.feeds.frames import Control, ControlKind
from k2.feeds.market_data_publisher import MarketDataPublisher
from k2.feeds.recent_keys import RecentKeys
from k2.feeds.rest_client import BackfillError
from k2.feeds.resume_points import ResumePoint
from k2.feeds.trade_sequence import IdRange, TradeSequence
from k2.feeds.websocket_session import ReceivedFrame, SessionPolicy, WebSocketSession, now_us

log = logging.getLogger(__name__)

RESUME_LOOKBACK_US = 10 * 60 * 1_000_000
"""How far back a REST time cursor starts when the trade before a gap has no known time."""


@dataclass
class FeedCounters:
    """What the handler did, for metrics, the demo and the tests."""

    frames: int = 0
    trades_published: int = 0
    quotes_published: int = 0
    duplicate_trades: int = 0
    duplicate_quotes: int = 0
    dead_letters: int = 0
    gaps_detected: int = 0
    trade_ids_missing: int = 0
    trades_backfilled: int = 0
    backfill_errors: int = 0
    unfilled_trade_ids: int = 0
    exchange_errors: int = 0


@dataclass(frozen=True)
class BackfillPolicy:
    attempts: int = 5
    retry_delay: float = 1.0
    drain_timeout: float = 30.0
    max_ids: int = 200_000


class FeedHandler(Generic[TradeT, QuoteT]):
    """Runs one exchange feed until stopped."""

    def __init__(
        self,
        feed: ExchangeFeed[TradeT, QuoteT],
        publisher: MarketDataPublisher,
        session_policy: SessionPolicy,
        *,
        queue_size: int = 10_000,
        backfill: BackfillPolicy | None = None,
        resume: dict[str, ResumePoint] | None = None,
        clock: Clock = now_us,
    ) -> None:
        self.feed = feed
        self.publisher = publisher
        self.counters = FeedCounters()
        self.queue: asyncio.Queue[ReceivedFrame] = asyncio.Queue(maxsize=queue_size)
        self.session = WebSocketSession(
            feed.stream_url(), feed.subscribe_requests(), session_policy, self.queue, clock=clock
        )
        self.sequences: defaultdict[str, TradeSequence] = defaultdict(TradeSequence)
        self._backfill = backfill or BackfillPolicy()
        self._clock = clock
        self._highest_trade_time: dict[str, int] = {}
        self._resume = resume or {}
        for symbol, point in self._resume.items():
            self.sequences[symbol] = TradeSequence.resuming_with(point.trade_times)
            self._highest_trade_time[symbol] = point.trade_times[point.highest]
        self._recent_quotes: defaultdict[str, RecentKeys] = defaultdict(RecentKeys)
        self._backfills: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> FeedCounters:
        """Until ``stop`` is set (or a delivery fails): read, publish, fill gaps; then drain."""
        self._backfill_resumed_holes()
        session = asyncio.create_task(self.session.run(), name=f"{self.feed.exchange}-session")
        consumer = asyncio.create_task(self._consume(), name=f"{self.feed.exchange}-consumer")
        stopping = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait(
                {session, consumer, stopping}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done - {stopping}:
                task.result()  # a crashed session or consumer surfaces here
        finally:
            stopping.cancel()
            await _cancel(session)
            await _cancel(consumer)
            await self._drain()
        return self.counters

    async def _consume(self) -> None:
        while True:
            frame = await self.queue.get()
            self.handle(frame)
            self.publisher.raise_for_failures()

    async def _drain(self) -> None:
        """Handle what is queued, let backfills finish, and wait for every acknowledgement."""
        while not self.queue.empty():
            self.handle(self.queue.get_nowait())
        if self._backfills:
            _, pending = await asyncio.wait(
                set(self._backfills), timeout=self._backfill.drain_timeout
            )
            for task in pending:
                task.cancel()
        await asyncio.to_thread(self.publisher.flush)
        self.publisher.raise_for_failures()

    # -- one frame ---------------------------------------------------------------------------

    def handle(self, frame: ReceivedFrame) -> None:
        self.counters.frames += 1
        try:
            parsed = self.feed.parse(frame.data, frame.received_at_us)
        except FrameParseError as error:
            self._dead_letter(frame, "malformed_frame", str(error))
            return
        if parsed.control is not None:
            self._control(parsed.control, frame.connection_id)
        try:
            for trade in parsed.trades:
                self._trade(trade)
            for quote in parsed.quotes:
                self._quote(quote)
        except DomainError as error:
            self._dead_letter(frame, error.reason, str(error))
            return
        if parsed.trades or parsed.quotes:
            self.session.mark_live(frame.connection_id)

    def _dead_letter(self, frame: ReceivedFrame, kind: str, reason: str) -> None:
        log.warning("dead letter (%s): %s", kind, reason)
        self.counters.dead_letters += 1
        self.publisher.publish_dead_letter(
            frame.data,
            kind=kind,
            reason=reason,
            received_at_us=frame.received_at_us,
            connection=frame.connection_id,
        )

    def _control(self, control: Control, connection_id: int) -> None:
        if control.kind is ControlKind.SERVER_SHUTDOWN:
            log.info("server shutdown notice on connection %d", connection_id)
            self.session.replace_soon(connection_id)
        elif control.kind is ControlKind.ERROR:
            self.counters.exchange_errors += 1
            log.error("exchange error (%s %s): %s", control.channel, control.symbol, control.detail)
        elif control.kind is ControlKind.STATUS and control.detail not in ("", "online"):
            log.warning("exchange status: %s", control.detail)

    def _trade(self, trade: TradeT) -> None:
        symbol, trade_id, time_us = self.feed.trade_identity(trade)
        key = self.feed.record_key(symbol)
        sequence = self.sequences[symbol]
        time_before = self._highest_trade_time.get(symbol)
        admission = sequence.admit(trade_id)
        if not admission.publish:
            self.counters.duplicate_trades += 1
            return
        self.publisher.publish(trade, key, time_us)  # type: ignore[arg-type]
        self.counters.trades_published += 1
        if trade_id == sequence.highest:
            self._highest_trade_time[symbol] = time_us
        if admission.gap is not None:
            # Kraken pages REST trades by time: start at the last trade before the hole.
            since_us = time_before if time_before is not None else time_us - RESUME_LOOKBACK_US
            self._start_backfill(symbol, admission.gap, since_us)

    def _quote(self, quote: QuoteT) -> None:
        symbol, quote_key = self.feed.quote_identity(quote)
        key = self.feed.record_key(symbol)
        if not self._recent_quotes[symbol].first_sighting(quote_key):
            self.counters.duplicate_quotes += 1
            return
        self.publisher.publish(quote, key, None)  # type: ignore[arg-type]
        self.counters.quotes_published += 1

    # -- gaps ----------------------------------------------------------------------------------

    def _backfill_resumed_holes(self) -> None:
        """Holes the previous process left among the trades it published (it may have died
        before its backfills finished)."""
        for symbol, point in self._resume.items():
            known = IdRange(min(point.trade_times), point.highest)
            for hole in self.sequences[symbol].missing_within(known):
                self._start_backfill(symbol, hole, point.trade_times[hole.first - 1])

    def _start_backfill(self, symbol: str, gap: IdRange, since_us: int) -> None:
        self.counters.gaps_detected += 1
        self.counters.trade_ids_missing += len(gap)
        log.info("gap in %s trade ids %s: backfilling from REST", symbol, gap)
        task = asyncio.create_task(self._fill(symbol, gap, since_us), name=f"backfill-{symbol}")
        self._backfills.add(task)
        task.add_done_callback(self._backfills.discard)

    async def _fill(self, symbol: str, gap: IdRange, since_us: int) -> None:
        sequence = self.sequences[symbol]
        policy = self._backfill
        attempts = policy.attempts if len(gap) <= policy.max_ids else 0
        if not attempts:
            log.error(
                "gap %s of %s is larger than %d ids: not backfilled", gap, symbol, policy.max_ids
            )
        for attempt in range(attempts):
            missing = sequence.missing_within(gap)
            if not missing:
                return
            wanted = IdRange(missing[0].first, missing[-1].last)
            try:
                trades = await self.feed.backfill(
                    symbol, wanted, since_us=since_us, clock=self._clock
                )
            except BackfillError as error:
                self.counters.backfill_errors += 1
                log.warning("backfill of %s %s failed: %s", symbol, wanted, error)
            else:
                for trade in trades:
                    before = self.counters.trades_published
                    self._trade(trade)
                    self.counters.trades_backfilled += self.counters.trades_published - before
            if not sequence.missing_within(gap):
                return
            await asyncio.sleep(policy.retry_delay * 2.0**attempt)
        self._record_unfilled(symbol, gap)

    def _record_unfilled(self, symbol: str, gap: IdRange) -> None:
        for run in self.sequences[symbol].abandon(gap):
            self.counters.unfilled_trade_ids += len(run)
            log.error("trade ids %s of %s are not served by REST: recording a gap", run, symbol)
            self.publisher.publish_gap_record(symbol, run.first, run.last)


async def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel and reap; a failure was already raised through ``task.result()`` in ``run``."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
