# SPDX-License-Identifier: Apache-2.0
"""The single flight of upstream refreshes when the request that started it goes away (the
client disconnected): the refresh goes on, and the others get its result.

The provider here is a hand-written fake whose refresh waits on a gate, because the timing of
a cancellation inside a refresh cannot be arranged with the real provider process; the store is
the real in-memory one."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from sidecar.authserver.upstreams.protocol import Upstream, UpstreamResult, UpstreamStart
from sidecar.observability.metrics import Metrics
from sidecar.outgoing.upstream_tokens import UpstreamTokenSource
from sidecar.storage.memory import MemoryStorage
from sidecar.storage.protocol import Storage
from sidecar.storage.records import UpstreamTokens

NOW = 1_800_000_000.0


@dataclass
class GatedProvider:
    """Refreshes only once ``gate`` is set; counts refreshes started."""

    name: str = "corp"
    kind: Literal["form", "redirect"] = "redirect"
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    started: int = 0

    async def begin(self, state: str) -> UpstreamStart:
        raise NotImplementedError

    async def complete(self, params: Mapping[str, str], remembered: Mapping[str, str]) -> UpstreamResult:
        raise NotImplementedError

    async def refresh(self, tokens: UpstreamTokens) -> UpstreamTokens:
        self.started += 1
        await self.gate.wait()
        return dataclasses.replace(
            tokens, access_token=f"a{self.started}", expires_at=NOW + 3600, issued_at=NOW
        )


@dataclass
class Logins:
    storage: Storage
    upstreams: Mapping[str, Upstream]


async def test_a_cancelled_first_request_does_not_cut_the_refresh_short() -> None:
    storage, provider = MemoryStorage(clock=lambda: NOW), GatedProvider()
    await storage.put_upstream_tokens(
        "sess", UpstreamTokens("corp", "a0", "r0", expires_at=NOW + 1, issued_at=NOW - 100), NOW + 3600
    )
    source = UpstreamTokenSource(lambda: Logins(storage, {"corp": provider}), Metrics(), clock=lambda: NOW)
    leader = asyncio.create_task(source.fresh("sess", "corp", 30))
    await asyncio.sleep(0.01)
    waiters = [asyncio.create_task(source.fresh("sess", "corp", 30)) for _ in range(5)]
    await asyncio.sleep(0.01)
    assert provider.started == 1
    leader.cancel()
    await asyncio.sleep(0.01)
    provider.gate.set()
    tokens = await asyncio.gather(*waiters)
    assert {t.access_token for t in tokens} == {"a1"}
    assert provider.started == 1
    assert leader.cancelled()
    stored = await storage.get_upstream_tokens("sess", "corp", NOW)
    assert stored is not None
    assert stored.access_token == "a1"  # the rotated tokens were stored, not lost
