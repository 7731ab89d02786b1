# SPDX-License-Identifier: Apache-2.0
"""The storage contract: every implementation of ``sidecar.storage.protocol.Storage`` runs the
same tests (memory, a real standalone Redis, a master and replica found through real sentinels,
a real Redis Cluster), on a clock the test moves."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from sidecar.config import auth_server as config_schema
from sidecar.config.secrets import Secrets
from sidecar.storage.factory import redis_client
from sidecar.storage.memory import MemoryStorage
from sidecar.storage.protocol import EvictionReason, Storage, StorageLimits
from sidecar.storage.redis import RedisStorage
from sidecar.storage.sealing import Sealer
from tests.redis_servers import MASTER_NAME, RedisClusterServers, RedisSentinelServers, RedisServer

T0 = 1_800_000_000.0
SECRET = b"s" * 16 + secrets.token_bytes(16)


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


def redis_storage(
    client: aioredis.Redis | RedisCluster,
    clock: Clock,
    events: Events,
    prefix: str | None = None,
    replicas_acks: int = 0,
) -> RedisStorage:
    return RedisStorage(
        client,
        key_prefix=prefix or f"test:{{{secrets.token_hex(6)}}}:",
        sealer=Sealer([SECRET]),
        limits=LIMITS,
        events=events,
        clock=clock,
        replicas_acks=replicas_acks,
    )


def sentinel_config(servers: RedisSentinelServers) -> config_schema.RedisConfig:
    """Settings that find the master through the sentinels, as an operator writes them."""
    return config_schema.RedisConfig(
        sentinel_config=config_schema.SentinelConfig(
            master_name=MASTER_NAME, sentinel_addrs=tuple(servers.addrs)
        )
    )


@pytest.fixture(params=["memory", "redis", "sentinel", "cluster"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    clock, events = Clock(), Events()
    storage: Storage
    if request.param == "memory":
        storage = MemoryStorage(LIMITS, events=events, clock=clock)
    elif request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        storage = redis_storage(aioredis.Redis(host="127.0.0.1", port=server.port), clock, events)
    elif request.param == "sentinel":
        # Built by the factory from a sentinel_config: the path a deployment takes.
        servers: RedisSentinelServers = request.getfixturevalue("redis_sentinel")
        config = sentinel_config(servers)
        storage = redis_storage(
            redis_client(config, Secrets()), clock, events, replicas_acks=config.replicas_acks
        )
    else:
        cluster: RedisClusterServers = request.getfixturevalue("redis_cluster")
        storage = redis_storage(RedisCluster(host="127.0.0.1", port=cluster.port), clock, events)
    yield Store(storage, clock, events)
    await storage.close()
