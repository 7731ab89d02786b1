# SPDX-License-Identifier: Apache-2.0
"""The storage contract: every implementation of ``sidecar.storage.protocol.Storage`` runs the
same tests, on a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from sidecar.storage.memory import MemoryStorage
from sidecar.storage.protocol import EvictionReason, Storage, StorageLimits

T0 = 1_800_000_000.0


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class Events:
    """What the store reported about its registry."""

    evicted: list[EvictionReason] = field(default_factory=list)
    count: int = 0

    def client_evicted(self, reason: EvictionReason) -> None:
        self.evicted.append(reason)

    def clients_registered(self, count: int) -> None:
        self.count = count


@dataclass
class Store:
    storage: Storage
    clock: Clock
    events: Events


LIMITS = StorageLimits(max_clients=3, client_idle_ttl=3600.0, max_pending=5, max_records=50)


@pytest.fixture(params=["memory"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    clock, events = Clock(), Events()
    storage = MemoryStorage(LIMITS, events=events, clock=clock)
    yield Store(storage, clock, events)
    await storage.close()
