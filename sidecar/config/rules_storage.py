# SPDX-License-Identifier: Apache-2.0
"""Rules for ``auth_server.storage`` (Redis): one way to find the server, addresses that parse,
a key prefix whose hash tag keeps a sidecar's keys in one cluster slot, and sane limits."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sidecar.config.auth_server import RedisConfig, RedisStorage, StorageConfig
from sidecar.config.errors import ConfigIssue, warning

_WHERE = "auth_server.storage.redis_config"
_HASH_TAG = re.compile(r"\{[^{}]+\}")


def split_addr(addr: str) -> tuple[str, int]:
    """``host:port`` (an IPv6 host in brackets) as its parts; ValueError when it is not one."""
    host, sep, port = addr.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if (
        not sep
        or not host
        or not port.isdigit()
        or not 0 < int(port) < 65536
        or any(c in host for c in "/ @")
    ):
        raise ValueError(addr)
    return host, int(port)


def _addr_issue(key: str, addr: str) -> Iterator[ConfigIssue]:
    try:
        split_addr(addr)
    except ValueError:
        yield ConfigIssue(key, f"{addr!r} is not host:port", "for example redis.example.svc:6379")


def check_storage(storage: StorageConfig, workers: int) -> Iterator[ConfigIssue]:
    if not isinstance(storage, RedisStorage):
        if workers > 1:
            yield ConfigIssue(
                "auth_server.storage.type",
                f"memory storage cannot be shared by server.workers: {workers} processes",
                "use storage: {type: redis, redis_config: {...}} (or server.workers: 1)",
            )
        return
    yield from _check_redis(storage.redis_config)


def _check_redis(config: RedisConfig) -> Iterator[ConfigIssue]:
    if (config.addr is None) == (config.sentinel_config is None):
        yield ConfigIssue(_WHERE, "must set exactly one of addr and sentinel_config")
    if config.addr is not None:
        yield from _addr_issue(f"{_WHERE}.addr", config.addr)
    yield from _check_sentinel(config)
    yield from _check_connection(config)


def _check_sentinel(config: RedisConfig) -> Iterator[ConfigIssue]:
    sentinel = config.sentinel_config
    if sentinel is not None:
        if config.cluster_mode:
            yield ConfigIssue(f"{_WHERE}.cluster_mode", "cannot be used with sentinel_config")
        if not sentinel.master_name:
            yield ConfigIssue(f"{_WHERE}.sentinel_config.master_name", "must not be empty")
        if not sentinel.sentinel_addrs:
            yield ConfigIssue(f"{_WHERE}.sentinel_config.sentinel_addrs", "must list at least one sentinel")
        for index, addr in enumerate(sentinel.sentinel_addrs):
            yield from _addr_issue(f"{_WHERE}.sentinel_config.sentinel_addrs[{index}]", addr)
        if not 0 <= sentinel.db <= 15:
            yield ConfigIssue(f"{_WHERE}.sentinel_config.db", "must be between 0 and 15")


def _check_connection(config: RedisConfig) -> Iterator[ConfigIssue]:
    if not _HASH_TAG.search(config.key_prefix):
        yield ConfigIssue(
            f"{_WHERE}.key_prefix",
            f"{config.key_prefix!r} has no hash tag: a sidecar's keys would spread over cluster slots",
            "put a tag in braces into it, e.g. mcp-sidecar:{my-server}:",
        )
    for key in ("dial_timeout", "read_timeout", "write_timeout"):
        if not 0 < getattr(config, key) <= 60:
            yield ConfigIssue(f"{_WHERE}.{key}", "must be more than 0s and at most 60s")
    if not 0 <= config.replicas_acks <= 5:
        yield ConfigIssue(f"{_WHERE}.min_replicas_acks", "must be between 0 and 5")
    elif config.cluster_mode and config.replicas_acks:
        yield ConfigIssue(
            f"{_WHERE}.min_replicas_acks",
            "is not supported with cluster_mode yet",
            "set min_replicas_acks: 0 (a cluster failover can lose the last writes)",
        )
    if not 1 <= config.pool_size <= 10_000:
        yield ConfigIssue(f"{_WHERE}.pool_size", "must be between 1 and 10000")
    if (
        (acl := config.acl_user_config) is not None
        and acl.password_file is None
        and acl.password_env_var is None
    ):
        yield ConfigIssue(f"{_WHERE}.acl_user_config", "needs password_file or password_env_var")
    if config.tls is not None and config.tls.insecure_skip_verify:
        yield warning(
            f"{_WHERE}.tls.insecure_skip_verify",
            "the Redis server's certificate is not checked: anyone on the path can read the store",
            "development only; set tls.ca_cert_file instead",
        )
