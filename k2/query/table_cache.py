"""Loaded Iceberg tables reused for a short TTL, so warm Lambda invocations skip the catalog.

Loading a table costs a Glue ``GetTable`` and an S3 read of its metadata JSON; a warm Lambda
serving many requests a second would repeat both for every request. A table's metadata is
immutable once loaded, so reusing it is safe: a read just sees the table as of the load, at most
``ttl_seconds`` stale. Time travel to a snapshot newer than the cached metadata reloads once
(``fresh=True``). The clock is injectable so tests need not sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyiceberg.catalog import Catalog
from pyiceberg.table import Table

from k2.query.limits import DEFAULT_METADATA_TTL_SECONDS


@dataclass(frozen=True, slots=True)
class _Entry:
    table: Table
    loaded_at: float


class TableCache:
    """Thread-safe: FastAPI runs sync handlers on a thread pool."""

    def __init__(
        self,
        catalog_factory: Callable[[], Catalog],
        ttl_seconds: float = DEFAULT_METADATA_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must not be negative")
        self._catalog_factory = catalog_factory
        self._catalog: Catalog | None = None
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.loads = 0
        """How many times the catalog was asked (for tests and metrics)."""

    @property
    def catalog(self) -> Catalog:
        """The catalog, created once: its client is the expensive part of a cold start."""
        with self._lock:
            if self._catalog is None:
                self._catalog = self._catalog_factory()
            return self._catalog

    def table(self, identifier: str, fresh: bool = False) -> Table:
        """The table, from the cache unless older than the TTL or ``fresh`` is asked for."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(identifier)
        if entry is not None and not fresh and now - entry.loaded_at < self._ttl:
            return entry.table
        table = self.catalog.load_table(identifier)  # outside the lock: loads may overlap
        with self._lock:
            self._entries[identifier] = _Entry(table, self._clock())
            self.loads += 1
        return table

    def invalidate(self, identifier: str | None = None) -> None:
        """Forget one table (or all): the next read loads it from the catalog."""
        with self._lock:
            if identifier is None:
                self._entries.clear()
            else:
                self._entries.pop(identifier, None)
