"""Every limit one request is held to, in one place, so the API can document and enforce them.

Limits keep a Lambda invocation's memory and time bounded: a request that exceeds one gets a
4xx with a code (:mod:`k2.query.errors`), never a silently truncated answer.
"""

from __future__ import annotations

from datetime import timedelta

DEFAULT_LIMIT = 1_000
"""Rows per page when the caller does not say."""
MAX_ROWS_PER_REQUEST = 100_000
"""Rows one page of trades, quotes or replay may return."""
MAX_BARS_PER_REQUEST = 10_000
"""Bars one OHLCV request may return (the old API's bound)."""
MAX_SYMBOLS = 100
"""Symbols one request may name."""
MAX_TIME_RANGE = timedelta(days=31)
"""Widest time range for raw trades and quotes (one month of partitions)."""
MAX_BAR_TIME_RANGE = timedelta(days=5 * 366)
"""Widest time range for bars (the longest bar retention, 5 years of 1d bars)."""
MAX_AGGREGATION_RANGE = timedelta(days=31)
"""Widest time range an aggregation over raw trades may cover."""
MAX_AGGREGATION_TRADES = 5_000_000
"""Trades one aggregation may read (its exact sums run over every trade)."""
MAX_BUCKETS = 50_000
"""Time buckets (OHLCV / TWAP / VWAP intervals) one aggregation may produce."""
MAX_PRICE_BUCKETS = 10_000
"""Price levels one volume profile may produce."""
MIN_INTERVAL = timedelta(seconds=1)
MAX_INTERVAL = timedelta(days=7)
MAX_SNAPSHOTS = 1_000
"""Snapshots one listing may return."""
MAX_CURSOR_CHARS = 2_048
"""Longest cursor accepted (a real one is ~200 characters)."""
DEFAULT_METADATA_TTL_SECONDS = 30.0
"""How long a loaded table's metadata is reused before the catalog is asked again."""
