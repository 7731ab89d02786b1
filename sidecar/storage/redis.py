# SPDX-License-Identifier: Apache-2.0
"""Storage on Redis (standalone, Sentinel or Cluster) through redis-py's asyncio client.

Every operation that reads and writes is one Lua script (``redis_scripts``), atomic across all
the processes and replicas sharing the Redis. Every key starts with the configured prefix,
which carries a hash tag (``{...}``): in Cluster mode all keys of one sidecar share a slot, so
a script may touch several of them. (Several sidecars spread over a cluster by prefix.)

At rest: codes, refresh tokens and pending authorizations are stored under the SHA-256 of their
id (the ids are 192-bit random values, so an unkeyed hash cannot be inverted), and upstream
tokens and the answers kept for the refresh grace window are sealed with AES-GCM (``sealing``).
A dump of the Redis yields no usable code, refresh token, upstream token or kept answer.

Durability: Redis replicates asynchronously, so a write the master answered can die with the
master before a replica has it. With ``replicas_acks`` > 0, each write that an answer to a client
stands on (a registration, a code and its redemption, a refresh rotation, a revocation) is
followed by ``WAIT`` on the same connection, and is answered only once that many replicas hold
it (and with it every write before it in the replication stream, such as the upstream tokens
stored just before a code); fewer in ``ack_timeout`` is a ``StorageError``: the write may or
may not survive a failover, and the client was told nothing.

Redis errors are mapped to ``StorageError`` here, at the boundary: callers answer 503.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from sidecar.storage import codec, redis_scripts
from sidecar.storage.protocol import (
    ClientEvents,
    NoEvents,
    NotReplicated,
    RefreshUse,
    StorageError,
    StorageLimits,
)
from sidecar.storage.records import (
    Client,
    CodeGrant,
    IssuedTokens,
    PendingAuthorization,
    RefreshRecord,
    UpstreamTokens,
)
from sidecar.storage.sealing import Sealer

T = TypeVar("T")
RedisClient = aioredis.Redis | RedisCluster


def _digest(token_id: str) -> str:
    return hashlib.sha256(token_id.encode()).hexdigest()


class RedisStorage:
    def __init__(
        self,
        client: RedisClient,
        *,
        key_prefix: str,
        sealer: Sealer,
        limits: StorageLimits | None = None,
        events: ClientEvents | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 6.0,
        replicas_acks: int = 0,
        ack_timeout: float = 1.0,
    ) -> None:
        if replicas_acks and isinstance(client, RedisCluster):
            raise ValueError("replicas_acks needs a single master (standalone or Sentinel)")
        self._redis = client
        self._timeout = timeout
        self._acks, self._ack_timeout_ms = replicas_acks, max(1, round(ack_timeout * 1000))
        self._prefix = key_prefix
        self._route = [key_prefix + "clients"]  # KEYS[1] of every script: the slot of them all
        self._sealer = sealer
        self._limits = limits or StorageLimits()
        self._events = events or NoEvents()
        self._clock = clock
        self._scripts = {
            name: client.register_script(getattr(redis_scripts, name))
            for name in (
                "ADD_CLIENT",
                "GET_CLIENT",
                "HOLD",
                "PUT_PENDING",
                "TAKE_PENDING",
                "REPLACE_PENDING",
                "PUT_CODE",
                "CONSUME_CODE",
                "PUT_REFRESH",
                "ROTATE_REFRESH",
                "REVOKE_SESSION",
                "PUT_UPSTREAM",
                "COUNT_HIT",
                "REPLACE_UPSTREAM",
                "RELEASE_LEASE",
                "PUT_CONSENT",
            )
        }

    async def _run(self, script: str, *args: str | float | bytes) -> Any:
        return await self._call(lambda: self._scripts[script](keys=self._route, args=[self._prefix, *args]))

    async def _run_durable(self, script: str, *args: str | float | bytes) -> Any:
        """``_run``, answered once ``replicas_acks`` replicas hold what the script wrote (the
        script itself refuses to write while fewer are online)."""
        if not self._acks or isinstance(self._redis, RedisCluster):
            return await self._run(script, *args, 0)
        redis = self._redis

        async def run_and_wait() -> Any:
            # WAIT counts the writes of its own connection: one pipeline, one connection.
            async with redis.pipeline(transaction=False) as pipe:
                arguments = [self._prefix, *args, self._acks]
                await self._scripts[script](keys=self._route, args=arguments, client=pipe)
                await pipe.execute_command("WAIT", self._acks, self._ack_timeout_ms)
                # Errors as values: the script's own error, not the pipeline's rewording of it.
                result, acks = await pipe.execute(raise_on_error=False)
            if isinstance(result, RedisError):
                raise result
            if isinstance(acks, RedisError):
                raise acks
            if acks < self._acks:
                raise NotReplicated(f"redis: a write reached {acks} of {self._acks} replicas in time")
            return result

        return await self._call(run_and_wait)

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(self._timeout):
                return await command()
        except ResponseError as exc:
            if str(exc).startswith("NOREPLICAS"):  # need_replicas() in a script: nothing written
                raise NotReplicated(f"redis: {exc}") from None
            raise StorageError(f"redis: {type(exc).__name__}") from None
        except (RedisError, OSError, TimeoutError) as exc:
            raise StorageError(f"redis: {type(exc).__name__}") from None

    async def _live(self, key: str, now: float, field: str = "") -> bytes | None:
        """The value of a record hash (``v`` and ``e``, or ``v:field`` and ``e:field``), while
        its expiry time is ahead of ``now``."""
        suffix = f":{field}" if field else ""
        raw, until = await self._call(lambda: self._redis.hmget(key, [f"v{suffix}", f"e{suffix}"]))
        if not isinstance(raw, bytes) or until is None or float(until) <= now:
            return None
        return raw

    async def check(self) -> None:
        """One round trip: StorageError when Redis does not answer; NotReplicated when fewer
        replicas than ``replicas_acks`` are online (writes would be refused)."""
        if not self._acks or isinstance(self._redis, RedisCluster):
            await self._call(self._redis.ping)
            return
        info = await self._call(lambda: self._redis.info("replication"))
        online = sum(
            1 for value in info.values() if isinstance(value, dict) and value.get("state") == "online"
        )
        if online < self._acks:
            raise NotReplicated(f"redis: {online} replicas online, {self._acks} needed")

    def _report(self, idle: int, capacity: int, count: int) -> None:
        for _ in range(idle):
            self._events.client_evicted("idle")
        for _ in range(capacity):
            self._events.client_evicted("capacity")
        if idle or capacity:
            self._events.clients_registered(count)

    # -- the client registry ----------------------------------------------------------------

    async def add_client(self, client: Client, now: float) -> bool:
        added, idle, capacity, count = await self._run_durable(
            "ADD_CLIENT",
            client.client_id,
            codec.encode(client),
            now,
            self._limits.max_clients,
            self._limits.client_idle_ttl,
        )
        self._report(idle, capacity, count)
        if added:
            self._events.clients_registered(count)
        return bool(added)

    async def get_client(self, client_id: str, now: float) -> Client | None:
        raw, idle, count = await self._run("GET_CLIENT", client_id, now, self._limits.client_idle_ttl)
        self._report(idle, 0, count)
        return codec.decode_client(raw) if raw else None

    async def touch_client(self, client_id: str, now: float) -> None:
        await self._call(lambda: self._redis.zadd(self._route[0], {client_id: now}, xx=True, gt=True))

    async def hold_client(self, client_id: str, holder: str, until: float) -> None:
        await self._run("HOLD", client_id, holder, until, self._clock())

    # -- the authorization flow -------------------------------------------------------------

    async def put_pending(self, pending: PendingAuthorization) -> None:
        await self._run(
            "PUT_PENDING",
            _digest(pending.id),
            pending.client_id,
            pending.expires_at,
            codec.encode(dataclasses.replace(pending, id="")),  # the id only as its digest
            self._clock(),
        )

    async def get_pending(self, pending_id: str, now: float) -> PendingAuthorization | None:
        raw = await self._live(f"{self._prefix}pending:{_digest(pending_id)}", now)
        return dataclasses.replace(codec.decode_pending(raw), id=pending_id) if raw else None

    async def replace_pending(self, pending: PendingAuthorization, now: float) -> bool:
        replaced = await self._run(
            "REPLACE_PENDING", _digest(pending.id), codec.encode(dataclasses.replace(pending, id="")), now
        )
        return bool(replaced)

    async def take_pending(self, pending_id: str, now: float) -> PendingAuthorization | None:
        raw = await self._run("TAKE_PENDING", _digest(pending_id), now)
        return dataclasses.replace(codec.decode_pending(raw), id=pending_id) if raw else None

    async def put_code(self, code_id: str, grant: CodeGrant) -> None:
        await self._run_durable(
            "PUT_CODE", _digest(code_id), grant.expires_at, codec.encode(grant), self._clock()
        )

    async def consume_code(self, code_id: str, now: float) -> tuple[CodeGrant | None, bool]:
        found = await self._run_durable("CONSUME_CODE", _digest(code_id), now)
        if not found:
            return None, False
        return codec.decode_code(found[0]), found[1] == b"1"

    async def put_refresh(self, record: RefreshRecord) -> None:
        await self._run_durable(
            "PUT_REFRESH",
            _digest(record.id),
            record.session_id,
            record.family_expires_at,
            codec.encode(dataclasses.replace(record, id="")),  # the id only as its digest
            self._clock(),
        )

    async def rotate_refresh(
        self, token_id: str, successor: RefreshRecord, issued: IssuedTokens, now: float, grace_until: float
    ) -> tuple[RefreshUse, IssuedTokens | None]:
        key = _digest(token_id)
        # The answer holds a usable access and refresh token: sealed, bound to where it is kept.
        sealed = (
            self._sealer.seal(codec.encode(issued), _context("refresh-answer", key))
            if grace_until > now
            else b""
        )
        found = await self._run_durable(
            "ROTATE_REFRESH",
            key,
            now,
            _digest(successor.id),
            codec.encode(dataclasses.replace(successor, id="")),  # the id only as its digest
            sealed,
            grace_until,
        )
        use = RefreshUse(found[0].decode())
        if use is RefreshUse.OK:
            return use, issued
        if use is RefreshUse.REPEATED:
            return use, codec.decode_issued(self._sealer.open(found[1], _context("refresh-answer", key)))
        return use, None

    async def get_refresh(self, token_id: str, now: float) -> RefreshRecord | None:
        raw = await self._live(f"{self._prefix}rt:{_digest(token_id)}", now)
        return dataclasses.replace(codec.decode_refresh(raw), id=token_id) if raw else None

    async def revoke_session(self, session_id: str, until: float) -> None:
        await self._run_durable("REVOKE_SESSION", session_id, until, self._clock())

    async def session_revoked(self, session_id: str, now: float) -> bool:
        until = await self._call(lambda: self._redis.get(f"{self._prefix}rev:{session_id}"))
        return until is not None and float(until) > now

    async def put_upstream_tokens(self, session_id: str, tokens: UpstreamTokens, until: float) -> None:
        sealed = self._sealer.seal(codec.encode(tokens), _context(session_id, tokens.provider))
        await self._run(
            "PUT_UPSTREAM",
            session_id,
            tokens.provider,
            sealed,
            until,
            self._clock(),
            _digest(tokens.access_token),
        )

    async def get_upstream_tokens(self, session_id: str, provider: str, now: float) -> UpstreamTokens | None:
        sealed = await self._live(f"{self._prefix}up:{session_id}", now, provider)
        if sealed is None:
            return None
        return codec.decode_upstream(self._sealer.open(sealed, _context(session_id, provider)))

    async def count_hit(self, key: str, window: float, now: float) -> int:
        # Redis's own clock ends the window (a TTL): every process counts into the same one.
        return int(await self._run("COUNT_HIT", key, max(1, int(window * 1000))))

    async def replace_upstream_tokens(
        self, session_id: str, previous: UpstreamTokens, tokens: UpstreamTokens, now: float
    ) -> bool:
        sealed = self._sealer.seal(codec.encode(tokens), _context(session_id, tokens.provider))
        replaced = await self._run(
            "REPLACE_UPSTREAM",
            session_id,
            previous.provider,
            _digest(previous.access_token),
            sealed,
            _digest(tokens.access_token),
            now,
        )
        return bool(replaced)

    async def acquire_lease(self, name: str, holder: str, until: float, now: float) -> bool:
        key, ttl = f"{self._prefix}lease:{name}", max(1, math.ceil((until - now) * 1000))
        # SET NX PX: one holder at a time, and a holder that dies frees it by expiry.
        return bool(await self._call(lambda: self._redis.set(key, holder, nx=True, px=ttl)))

    async def release_lease(self, name: str, holder: str) -> None:
        await self._run("RELEASE_LEASE", f"{self._prefix}lease:{name}", holder)

    # -- remembered consent ------------------------------------------------------------------

    async def put_consent(self, user_id: str, client_id: str, scopes: tuple[str, ...], until: float) -> None:
        await self._run(
            "PUT_CONSENT", _consent_digest(user_id, client_id), codec.encode(scopes), until, self._clock()
        )

    async def get_consent(self, user_id: str, client_id: str, now: float) -> tuple[str, ...] | None:
        raw = await self._live(f"{self._prefix}consent:{_consent_digest(user_id, client_id)}", now)
        return codec.decode_scopes(raw) if raw else None

    async def revoke_consent(self, user_id: str, client_id: str) -> None:
        key = f"{self._prefix}consent:{_consent_digest(user_id, client_id)}"
        await self._call(lambda: self._redis.delete(key))

    def sizes(self) -> Mapping[str, int]:
        return {}  # counting keys would cost a scan of the keyspace on every scrape

    async def close(self) -> None:
        await self._redis.aclose()


def _consent_digest(user_id: str, client_id: str) -> str:
    return _digest(f"{user_id}\0{client_id}")


def _context(*where: str) -> bytes:
    """Where a sealed value is kept (session and provider; or the refresh answer's token key)."""
    return "\0".join(where).encode()
