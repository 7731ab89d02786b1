# SPDX-License-Identifier: Apache-2.0
"""Scenario 8, outgoing auth: what each strategy adds to one proxied request, with the user's
upstream token warm (stored, not expiring), on memory storage and on a local Redis, against
``unauthenticated`` measured in the same run."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from bench.authserver import redis_server
from bench.harness import per_call_us
from sidecar.authn.validator import Identity
from sidecar.authserver.upstreams.protocol import Upstream
from sidecar.observability.metrics import Metrics
from sidecar.outgoing.static import HeaderInjection, Unauthenticated
from sidecar.outgoing.upstream_inject import UpstreamInject
from sidecar.outgoing.upstream_tokens import UpstreamTokenSource
from sidecar.storage.memory import MemoryStorage
from sidecar.storage.protocol import Storage
from sidecar.storage.records import UpstreamTokens
from sidecar.storage.redis import RedisStorage
from sidecar.storage.sealing import Sealer

IDENTITY = Identity(
    "u-bench", frozenset(), {"tsid": "session-1", "sub": "u-bench"}, time.time() + 3600, "local"
)


@dataclass(frozen=True)
class Logins:
    """What UpstreamTokenSource asks the authorization server for: its store and upstreams."""

    storage: Storage
    upstreams: dict[str, Upstream]


async def _upstream_inject(storage: Storage, iterations: int) -> float:
    await storage.put_upstream_tokens(
        "session-1",
        UpstreamTokens("corp", "upstream-access-token", "r", expires_at=time.time() + 3600),
        time.time() + 3600,
    )
    source = UpstreamTokenSource(lambda: Logins(storage, {}), Metrics())
    strategy = UpstreamInject("corp", 30.0, source)
    try:
        return await per_call_us(lambda: strategy.apply(IDENTITY), iterations)
    finally:
        await source.close()


async def _measure(iterations: int, redis_port: int) -> dict[str, float]:
    results = {
        "unauthenticated": await per_call_us(lambda: Unauthenticated().apply(IDENTITY), iterations),
        "header_injection": await per_call_us(
            lambda: HeaderInjection("X-API-Key", "secret").apply(IDENTITY), iterations
        ),
        "upstream_inject, memory storage": await _upstream_inject(MemoryStorage(), iterations),
    }
    redis = RedisStorage(
        aioredis.Redis(host="127.0.0.1", port=redis_port), key_prefix="bench:{o}:", sealer=Sealer([b"s" * 32])
    )
    try:
        results["upstream_inject, Redis storage"] = await _upstream_inject(redis, max(iterations // 10, 100))
    finally:
        await redis.close()
    return results


def run(*, smoke: bool) -> dict[str, float]:
    with redis_server() as port:
        return asyncio.run(_measure(2_000 if smoke else 50_000, port))


def report(results: dict[str, float]) -> str:
    base = results["unauthenticated"]
    lines = ["| strategy (token warm) | µs per request | added over unauthenticated |", "|---|---|---|"]
    lines += [f"| {name} | {us:.1f} | {us - base:+.1f} µs |" for name, us in results.items()]
    return "\n".join(lines)
