# SPDX-License-Identifier: Apache-2.0
"""The store the settings ask for: memory, or Redis (standalone, Sentinel or Cluster)."""

from __future__ import annotations

import ssl
import typing
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialBackoff

from sidecar.config import auth_server as config_schema
from sidecar.config.rules_storage import split_addr
from sidecar.config.secrets import Secrets
from sidecar.storage.memory import MemoryStorage
from sidecar.storage.protocol import ClientEvents, Storage, StorageLimits
from sidecar.storage.redis import RedisClient, RedisStorage
from sidecar.storage.sealing import Sealer


def open_storage(
    config: config_schema.StorageConfig,
    secrets: Secrets,
    hmac_secrets: tuple[bytes, ...],
    limits: StorageLimits,
    events: ClientEvents,
) -> Storage:
    """Connections open lazily: nothing here waits for Redis (readiness reports it)."""
    if not isinstance(config, config_schema.RedisStorage):
        return MemoryStorage(limits, events=events)
    redis = config.redis_config
    return RedisStorage(
        redis_client(redis, secrets),
        key_prefix=redis.key_prefix,
        sealer=Sealer(hmac_secrets),
        limits=limits,
        events=events,
        timeout=redis.write_timeout + redis.read_timeout,
        replicas_acks=redis.replicas_acks,
        # Within the socket's read timeout, so a missing acknowledgement is told from a dead link.
        ack_timeout=redis.read_timeout / 2,
    )


class _SentinelMaster(aioredis.Redis):
    """The master the sentinels name. Closing it also closes the connections to the sentinels,
    which redis-py leaves to the caller (they would leak at every shutdown)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        await self.connection_pool.sentinel_manager.aclose()  # type: ignore[attr-defined]  # a SentinelConnectionPool


def redis_client(config: config_schema.RedisConfig, secrets: Secrets) -> RedisClient:
    options: dict[str, Any] = {
        "username": secrets.redis_username,
        "password": secrets.redis_password,
        "socket_connect_timeout": config.dial_timeout,
        "socket_timeout": config.read_timeout,
        # One quick retry finds a fresh connection after a failover or a server restart; the
        # call as a whole is still bounded by write_timeout + read_timeout.
        "retry": Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
        "health_check_interval": 30,
    }
    if (tls := config.tls) is not None:
        options.update(
            ssl=True,
            ssl_ca_data=secrets.redis_ca_cert.decode() if secrets.redis_ca_cert is not None else None,
            ssl_cert_reqs=ssl.CERT_NONE if tls.insecure_skip_verify else ssl.CERT_REQUIRED,
            ssl_check_hostname=not tls.insecure_skip_verify,
        )
    if (sentinel := config.sentinel_config) is not None:
        sentinels = Sentinel(  # type: ignore[no-untyped-call]  # unannotated in redis-py
            [split_addr(addr) for addr in sentinel.sentinel_addrs],
            # The sentinels get the timeouts and TLS, not the data nodes' ACL user.
            sentinel_kwargs={
                key: value
                for key, value in options.items()
                if key not in ("username", "password", "health_check_interval")
            },
            **options,
        )
        master = sentinels.master_for(
            sentinel.master_name,
            redis_class=_SentinelMaster,
            db=sentinel.db,
            max_connections=config.pool_size,
        )
        return typing.cast(aioredis.Redis, master)
    host, port = split_addr(config.addr or "")
    if config.cluster_mode:
        return RedisCluster(host=host, port=port, max_connections=config.pool_size, **options)
    return aioredis.Redis(host=host, port=port, max_connections=config.pool_size, **options)
