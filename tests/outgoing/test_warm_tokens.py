# SPDX-License-Identifier: Apache-2.0
"""A warm upstream token is used for a few seconds without asking the store again; a token due
for refresh never is."""

from __future__ import annotations

from dataclasses import dataclass, field

from sidecar.authserver.upstreams.protocol import Upstream
from sidecar.observability.metrics import Metrics
from sidecar.outgoing.upstream_tokens import WARM_FOR, UpstreamTokenSource
from sidecar.storage.memory import MemoryStorage
from sidecar.storage.records import UpstreamTokens

T0 = 1_800_000_000.0


@dataclass
class Logins:
    storage: MemoryStorage
    upstreams: dict[str, Upstream] = field(default_factory=dict)


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


async def test_warm_token_is_reused_until_it_is_due_or_WARM_FOR_passed() -> None:
    """Another process's newer token is picked up within WARM_FOR; until then the kept one,
    still valid at its provider, is used without a store round trip."""
    clock = Clock()
    storage = MemoryStorage(clock=clock)
    source = UpstreamTokenSource(lambda: Logins(storage), Metrics(), clock=clock)
    first = UpstreamTokens("corp", "first", "r1", expires_at=T0 + 3600)
    await storage.put_upstream_tokens("s1", first, T0 + 86400)
    assert await source.fresh("s1", "corp", 30) == first
    newer = UpstreamTokens("corp", "newer", "r2", expires_at=T0 + 3600)
    await storage.put_upstream_tokens("s1", newer, T0 + 86400)
    clock.now = T0 + WARM_FOR - 1
    assert await source.fresh("s1", "corp", 30) == first
    clock.now = T0 + WARM_FOR
    assert await source.fresh("s1", "corp", 30) == newer
    await source.close()


async def test_token_due_for_refresh_is_never_served_warm() -> None:
    """Within WARM_FOR, a kept token that has become due is not used: the store is asked."""
    assert WARM_FOR > 4
    clock = Clock()
    storage = MemoryStorage(clock=clock)
    source = UpstreamTokenSource(lambda: Logins(storage), Metrics(), clock=clock)
    short = UpstreamTokens("corp", "short", "r1", expires_at=T0 + 33)  # due from T0 + 3 (margin 30 s)
    await storage.put_upstream_tokens("s1", short, T0 + 86400)
    assert await source.fresh("s1", "corp", 30) == short
    replacement = UpstreamTokens("corp", "replacement", "r2", expires_at=T0 + 3600)
    await storage.put_upstream_tokens("s1", replacement, T0 + 86400)
    clock.now = T0 + 4  # still within WARM_FOR, but the kept token is due
    assert await source.fresh("s1", "corp", 30) == replacement
    await source.close()
