"""Table metadata is reused within its TTL and reloaded after it, on an injected clock."""

from __future__ import annotations

from typing import Any, cast

import pytest
from pyiceberg.catalog import Catalog

from k2.query.table_cache import TableCache

pytestmark = pytest.mark.unit


class FakeCatalog:
    def __init__(self) -> None:
        self.loads: list[str] = []

    def load_table(self, identifier: str) -> Any:
        self.loads.append(identifier)
        return (identifier, len(self.loads))


def test_tables_are_cached_for_the_ttl_only() -> None:
    now = [100.0]
    catalog = FakeCatalog()
    created: list[int] = []

    def factory() -> Catalog:
        created.append(1)
        return cast(Catalog, catalog)

    cache = TableCache(factory, ttl_seconds=30, clock=lambda: now[0])
    first = cache.table("db.t")
    now[0] += 29.9
    assert cache.table("db.t") is first
    now[0] += 0.1
    assert cache.table("db.t") is not first  # expired: reloaded
    assert cache.table("db.t", fresh=True) != cache.table("db.u")
    cache.invalidate("db.t")
    cache.table("db.t")
    assert catalog.loads == ["db.t", "db.t", "db.t", "db.u", "db.t"]
    assert cache.loads == 5 and created == [1]  # one catalog client for the process
    with pytest.raises(ValueError, match="ttl"):
        TableCache(factory, ttl_seconds=-1)
