"""A bounded memory of recently published quote keys, to drop the copies an overlap delivers.

Quotes carry no contiguous sequence, so duplicates (two connections open during a rotation, a
ticker snapshot repeating the last update) are recognised by their deterministic key. Copies
only ever arrive close together, so remembering the last few thousand keys is enough.
"""

from __future__ import annotations

from collections import OrderedDict


class RecentKeys:
    """Remembers at most ``capacity`` keys, forgetting the oldest first."""

    def __init__(self, capacity: int = 4096) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def first_sighting(self, key: str) -> bool:
        """True the first time ``key`` is seen (while it is remembered), False for a copy."""
        if key in self._keys:
            return False
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._keys)
