"""How query-string values become engine arguments: lists, default windows, time travel.

The engine validates every value (codes in :mod:`k2.query.errors`); this module only decides
what an omitted value means, so the rule is written once for every endpoint.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from k2.query.params import from_micros, parse_time
from k2.query.time_travel import CURRENT, TimeTravel

DEFAULT_WINDOW = timedelta(hours=1)
"""Trades and quotes without a start: the hour before ``end_time`` (default now)."""


def split_list(value: str | None) -> tuple[str, ...]:
    """``"BTCUSDT, ethusdt"`` -> ``("BTCUSDT", "ethusdt")``; None or blank -> ()."""
    if value is None:
        return ()
    return tuple(part.strip() for part in value.split(",") if part.strip())


def fields_list(value: str | None) -> tuple[str, ...] | None:
    """Field selection: None means every field."""
    chosen = split_list(value)
    return chosen or None


def window(
    start: str | None, end: str | None, default_span: timedelta
) -> tuple[str | datetime, datetime]:
    """``[start, end)``: ``end`` defaults to now and ``start`` to ``default_span`` before it."""
    end_moment = datetime.now(UTC) if end is None else from_micros(parse_time(end))
    return (end_moment - default_span if start is None else start), end_moment


def travel(as_of: str | None = None, snapshot_id: int | None = None) -> TimeTravel:
    if as_of is None and snapshot_id is None:
        return CURRENT
    return TimeTravel(snapshot_id=snapshot_id, as_of=as_of)
