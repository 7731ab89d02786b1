# SPDX-License-Identifier: Apache-2.0
"""The token bucket, pure: a bucket holds up to ``capacity`` tokens, gains ``rate`` per second,
and a request takes one or is told how long until one is there."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    capacity: float  # the burst
    per_second: float  # refill

    @classmethod
    def of(cls, requests: int, per: float, burst: int | None) -> Rate:
        return cls(float(burst if burst is not None else requests), requests / per)


@dataclass(frozen=True, slots=True)
class BucketState:
    tokens: float
    updated: float


def take(state: BucketState | None, rate: Rate, now: float) -> tuple[BucketState, float | None]:
    """The new state, and None when a token was taken or the seconds until one will be there."""
    if state is None:
        tokens = rate.capacity
    else:
        # max(): a clock that stepped back refills nothing rather than draining.
        tokens = min(rate.capacity, state.tokens + max(0.0, now - state.updated) * rate.per_second)
    if tokens >= 1.0:
        return BucketState(tokens - 1.0, now), None
    return BucketState(tokens, now), (1.0 - tokens) / rate.per_second
