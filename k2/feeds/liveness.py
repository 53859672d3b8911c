"""Is this feed handler making progress? A file it keeps fresh, and the health check that reads it.

A feed handler can be running and useless: a socket that reconnects forever, a consumer stuck
behind a full queue, a producer whose broker vanished and whose records sit unacknowledged. Its
process stays up, so ECS sees nothing wrong. The ECS container health check
(``python -m k2.feeds.liveness --max-age 120``, every 30 s, three failures restart the task)
asks instead whether the two things the handler exists for are still happening.

**Healthy** means both signals are younger than ``--max-age`` seconds:

- *frames*: the handler consumed a frame from the exchange. Quiet markets still send one every
  second or so (Binance ``bookTicker`` quotes on every book change, Kraken v2 a heartbeat each
  second an idle channel has nothing else), so a minute of silence is a dead pipe, not a calm
  market. The frame counts where the consumer takes it off the session's queue, so a consumer
  stuck behind the queue looks as stale as a dead socket.
- *Kafka*: the broker acknowledged a record, or nothing was waiting for acknowledgement. A market
  that only sends heartbeats publishes nothing and is not Kafka's fault; records sent and never
  acknowledged for ``max-age`` are (the producer's own delivery timeout is 120 s too).

A missing file is unhealthy: the handler has not started yet (the ECS start period covers
start-up, including reading resume points from Kafka). A stopped handler leaves its file behind
and is simply stale; nothing is removed on exit.

The handler's hot path is untouched: a small task polls the counters the handler and publisher
already keep (``FeedCounters.frames``, ``PublisherStats.acknowledged``) once a second, stamps the
wall-clock time a counter last moved, and replaces the file atomically (write, then rename), so
the check never reads half a record. Times are epoch seconds because the checker is another
process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the health check imports this module: keep its start-up cheap
    from k2.feeds.feed_handler import FeedHandler

log = logging.getLogger(__name__)

LIVENESS_FILE_ENV = "K2_FEED_LIVENESS_FILE"
"""``FeedSettings.liveness_file``'s variable, read directly: the check has no exchange setting."""
DEFAULT_LIVENESS_FILE = Path("/tmp/k2-feed-liveness")  # noqa: S108 - the container's own /tmp
WRITE_INTERVAL_S = 1.0
"""At most one write a second: far finer than the 30 s check, and negligible I/O."""

WallClock = Callable[[], float]


@dataclass(frozen=True)
class Progress:
    """The handler's running totals at one moment."""

    frames: int
    acknowledged: int
    outstanding: int
    """Records sent to Kafka and neither acknowledged nor failed yet."""


def handler_progress(handler: FeedHandler[Any, Any]) -> Progress:
    """Read the counters the handler and its publisher already keep (no new hot-path work)."""
    stats = handler.publisher.stats
    acknowledged, failed = stats.acknowledged, stats.failed  # the producer thread moves these
    sent = sum(stats.sent.values())
    return Progress(handler.counters.frames, acknowledged, max(sent - acknowledged - failed, 0))


class LivenessError(ValueError):
    """The file is not a liveness record."""


@dataclass(frozen=True)
class Liveness:
    """What the file holds; ``None`` for a signal not seen since the handler started."""

    pid: int
    started_at: float
    written_at: float
    frame_at: float | None
    kafka_at: float | None
    frames: int
    acknowledged: int
    outstanding: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Liveness:
        try:
            data = json.loads(text)
        except ValueError as error:
            raise LivenessError(f"not JSON ({error})") from None
        if not isinstance(data, dict):
            raise LivenessError(f"not a JSON object but {type(data).__name__}")
        missing = sorted({field.name for field in fields(cls)} - data.keys())
        if missing:
            raise LivenessError(f"missing {', '.join(missing)}")
        return cls(
            pid=_count(data, "pid"),
            started_at=_time(data, "started_at"),
            written_at=_time(data, "written_at"),
            frame_at=None if data["frame_at"] is None else _time(data, "frame_at"),
            kafka_at=None if data["kafka_at"] is None else _time(data, "kafka_at"),
            frames=_count(data, "frames"),
            acknowledged=_count(data, "acknowledged"),
            outstanding=_count(data, "outstanding"),
        )


def _time(data: dict[str, Any], name: str) -> float:
    value = data[name]
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise LivenessError(f"{name} is {value!r}, not a time")


def _count(data: dict[str, Any], name: str) -> int:
    value = data[name]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise LivenessError(f"{name} is {value!r}, not a count")


class LivenessRecorder:
    """Turns counter movements into signal times and keeps the file fresh, throttled."""

    def __init__(
        self,
        path: Path,
        progress: Callable[[], Progress],
        *,
        clock: WallClock = time.time,
        interval: float = WRITE_INTERVAL_S,
    ) -> None:
        self.path = path
        self._progress = progress
        self._clock = clock
        self._interval = interval
        self._started_at = clock()
        self._last = Progress(frames=0, acknowledged=0, outstanding=0)
        self._frame_at: float | None = None
        self._kafka_at: float | None = None
        self._written_at: float | None = None
        self._failing = False

    def observe(self) -> Liveness | None:
        """Note which counters moved; write the file unless it was written under a second ago.

        Returns what was written, or None when throttled (or the write failed).
        """
        now = self._clock()
        progress = self._progress()
        if progress.frames != self._last.frames:
            self._frame_at = now
        if progress.acknowledged != self._last.acknowledged or progress.outstanding == 0:
            self._kafka_at = now
        self._last = progress
        if self._written_at is not None and now - self._written_at < self._interval:
            return None
        record = Liveness(
            pid=os.getpid(),
            started_at=self._started_at,
            written_at=now,
            frame_at=self._frame_at,
            kafka_at=self._kafka_at,
            frames=progress.frames,
            acknowledged=progress.acknowledged,
            outstanding=progress.outstanding,
        )
        try:
            _write_atomically(self.path, record.to_json())
        except OSError as error:
            if not self._failing:  # once per failure streak: the health check will say the rest
                log.error("cannot write the liveness file %s: %s", self.path, error)
            self._failing = True
            return None
        self._failing = False
        self._written_at = now
        return record

    async def run(self) -> None:
        """Observe every ``interval`` seconds until cancelled."""
        while True:
            self.observe()
            await asyncio.sleep(self._interval)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)  # a rename: the reader sees the old record or the new one
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


# -- the health check ----------------------------------------------------------------------------


def unhealthy_reason(path: Path, max_age: float, now: float) -> str | None:
    """Why the handler behind ``path`` is unhealthy, in one line; None when it is healthy."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return f"no liveness file at {path}: the feed handler has not started"
    except OSError as error:
        return f"cannot read the liveness file {path}: {error}"
    try:
        record = Liveness.from_json(text)
    except LivenessError as error:
        return f"{path} is not a liveness record: {error}"
    reasons = []
    if record.frame_at is None:
        reasons.append(
            f"no exchange frame received since the handler started "
            f"{now - record.started_at:.0f}s ago"
        )
    elif now - record.frame_at > max_age:
        reasons.append(f"newest exchange frame is {now - record.frame_at:.0f}s old")
    if record.kafka_at is None:
        reasons.append("Kafka has acknowledged nothing since the handler started")
    elif now - record.kafka_at > max_age:
        reasons.append(
            f"Kafka acknowledged nothing for {now - record.kafka_at:.0f}s "
            f"with {record.outstanding} record(s) waiting"
        )
    if not reasons:
        return None
    if now - record.written_at > max_age:
        reasons.append(f"file last written {now - record.written_at:.0f}s ago (pid {record.pid})")
    return f"{'; '.join(reasons)} (max age {max_age:g}s)"


def default_path() -> Path:
    return Path(os.environ.get(LIVENESS_FILE_ENV) or DEFAULT_LIVENESS_FILE)


def main(argv: Sequence[str] | None = None, *, clock: WallClock = time.time) -> int:
    """Exit 0 when healthy; 1 with a one-line reason on stderr when stale or missing."""
    parser = argparse.ArgumentParser(
        prog="python -m k2.feeds.liveness",
        description="Container health check of a running `k2 feed` process.",
    )
    parser.add_argument(
        "--max-age", type=float, required=True, help="Seconds a signal may be old and healthy."
    )
    parser.add_argument(
        "--file",
        type=Path,
        default=None,
        help=f"The liveness file (default: ${LIVENESS_FILE_ENV} or {DEFAULT_LIVENESS_FILE}).",
    )
    args = parser.parse_args(argv)
    if not args.max_age > 0:
        parser.error("--max-age must be positive")
    path = args.file or default_path()
    reason = unhealthy_reason(path, args.max_age, clock())
    if reason is not None:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
