# SPDX-License-Identifier: Apache-2.0
"""A fixed-window rate limit per key (a client address), bounded in memory and per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from sidecar.authserver.policy import RATE_LIMIT_MAX_KEYS


@dataclass
class RateLimiter:
    """At most ``limit`` calls of ``allow`` per key in each ``window`` seconds."""

    limit: int
    window: float
    _counts: dict[str, tuple[float, int]] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        start, count = self._counts.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        if len(self._counts) > RATE_LIMIT_MAX_KEYS:
            self._counts.clear()
        self._counts[key] = (start, count + 1)
        return count < self.limit
