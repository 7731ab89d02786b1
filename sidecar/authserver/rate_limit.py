# SPDX-License-Identifier: Apache-2.0
"""A fixed-window rate limit per key (a client address). Counted by the store the authorization
server uses, so with Redis the limit holds across workers and replicas; without a store, in this
process (bounded by count)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sidecar.authserver.policy import RATE_LIMIT_MAX_KEYS
from sidecar.storage.memory import WindowCounts
from sidecar.storage.protocol import HitCounter


@dataclass
class RateLimiter:
    """At most ``limit`` calls of ``allow`` per key in a window of ``window`` seconds that starts
    at the key's first call."""

    limit: int
    window: float
    counter: HitCounter = field(default_factory=lambda: WindowCounts(RATE_LIMIT_MAX_KEYS))
    name: str = "limit"  # keeps the counts of several limiters on one store apart

    async def allow(self, key: str, now: float) -> bool:
        return await self.counter.count_hit(f"{self.name}:{key}", self.window, now) <= self.limit
