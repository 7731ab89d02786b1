# SPDX-License-Identifier: Apache-2.0
"""Where buckets live. :class:`BucketStore` is the seam; :class:`MemoryBuckets` keeps them in
this process (per replica: N replicas allow N times the rate), bounded in size."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from sidecar.ratelimit.bucket import BucketState, Rate, take


class BucketStore(Protocol):
    """Takes one token from the bucket ``key``; None, or the seconds until one is there. A
    shared implementation must do the take atomically (a Lua script in Redis, say)."""

    async def take(self, key: str, rate: Rate, now: float) -> float | None: ...


class MemoryBuckets:
    def __init__(self, max_buckets: int = 100_000) -> None:
        self._buckets: OrderedDict[str, BucketState] = OrderedDict()
        self._max = max_buckets

    def __len__(self) -> int:
        return len(self._buckets)

    async def take(self, key: str, rate: Rate, now: float) -> float | None:
        state, wait = take(self._buckets.pop(key, None), rate, now)
        self._buckets[key] = state  # most recently used last
        if len(self._buckets) > self._max:
            # Memory stays bounded; the least recently used bucket is forgotten (its owner's
            # next request starts from a full bucket, the price of the bound).
            self._buckets.popitem(last=False)
        return wait
