# SPDX-License-Identifier: Apache-2.0
"""The token bucket arithmetic and the in-memory store, with the clock passed in."""

from __future__ import annotations

import pytest

from sidecar.ratelimit.bucket import Rate, take
from sidecar.ratelimit.store import MemoryBuckets


def test_burst_then_refused_with_the_wait_until_the_next_token() -> None:
    rate = Rate.of(requests=3, per=60.0, burst=None)
    state, waits = None, []
    for _ in range(4):
        state, wait = take(state, rate, now=100.0)
        waits.append(wait)
    assert waits[:3] == [None, None, None]
    assert waits[3] == pytest.approx(20.0)


def test_tokens_come_back_at_the_rate_and_never_past_the_burst() -> None:
    rate = Rate.of(requests=2, per=10.0, burst=2)
    state, _ = take(None, rate, 0.0)
    state, _ = take(state, rate, 0.0)
    state, wait = take(state, rate, 4.0)
    assert wait == pytest.approx(1.0)
    state, wait = take(state, rate, 5.0)
    assert wait is None
    state, _ = take(state, rate, 1000.0)
    assert state.tokens == pytest.approx(1.0)


def test_a_clock_stepping_back_refills_nothing() -> None:
    rate = Rate.of(requests=1, per=10.0, burst=None)
    state, _ = take(None, rate, 50.0)
    _, wait = take(state, rate, 10.0)
    assert wait == pytest.approx(10.0)


async def test_memory_store_is_bounded_and_keys_are_separate() -> None:
    store = MemoryBuckets(max_buckets=2)
    rate = Rate.of(requests=1, per=60.0, burst=None)
    assert await store.take("a", rate, 0.0) is None
    assert await store.take("a", rate, 0.0) is not None
    assert await store.take("b", rate, 0.0) is None
    assert await store.take("c", rate, 0.0) is None
    assert len(store) == 2
