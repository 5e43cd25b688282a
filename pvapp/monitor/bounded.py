"""A set that forgets its oldest members: "log this once" with memory that cannot grow.

Inverters, lines and brokers can present an endless stream of new values
(serials that answer discover but are not configured, serials refused as
malformed).  Each should be logged once, not every cycle, but remembering
every one would let a noisy line grow the monitor's memory without bound; past
``limit`` the oldest is forgotten (and would be logged again if it returned).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

DEFAULT_LIMIT = 256


class SeenOnce:
    """Membership with a size limit; ``first(key)`` is True the first time a key is seen."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._seen: OrderedDict[Hashable, None] = OrderedDict()

    def first(self, key: Hashable) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self.add(key)
        return True

    def add(self, key: Hashable) -> None:
        self._seen[key] = None
        self._seen.move_to_end(key)
        while len(self._seen) > self.limit:
            self._seen.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return key in self._seen

    def __len__(self) -> int:
        return len(self._seen)
