# SPDX-License-Identifier: Apache-2.0
"""What only a shared store must prove: atomic single use across connections, nothing kept
without a TTL, nothing usable in a dump, and a Redis that goes away is a StorageError, not a hang."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from sidecar.config import auth_server as config_schema
from sidecar.config.secrets import Secrets
from sidecar.storage.factory import redis_client
from sidecar.storage.protocol import NotReplicated, RefreshUse, StorageError
from sidecar.storage.records import IssuedTokens, UpstreamTokens
from sidecar.storage.redis import RedisStorage
from sidecar.storage.sealing import Sealer
from tests.redis_servers import RedisNode, RedisSentinelServers, RedisServer
from tests.storage.conftest import SECRET, Clock, Events, redis_storage, sentinel_config
from tests.storage.test_contract import client, grant, issued, pending, refresh
from tests.support import free_port


@pytest.fixture
async def two(redis_server: RedisServer) -> AsyncIterator[tuple[RedisStorage, RedisStorage, Clock]]:
    """Two stores on separate connection pools sharing one prefix: two sidecar processes."""
    clock, prefix = Clock(), f"test:{{{secrets.token_hex(6)}}}:"
    stores = [
        redis_storage(aioredis.Redis(host="127.0.0.1", port=redis_server.port), clock, Events(), prefix)
        for _ in range(2)
    ]
    yield stores[0], stores[1], clock
    for store in stores:
        await store.close()


async def test_fifty_concurrent_redemptions_of_one_code_across_two_stores_succeed_once(
    two: tuple[RedisStorage, RedisStorage, Clock],
) -> None:
    first, second, clock = two
    await first.put_code("code-1", grant("c", "s1", clock.now + 60))
    results = await asyncio.gather(
        *[(first if i % 2 else second).consume_code("code-1", clock.now) for i in range(50)]
    )
    assert sum(1 for found, replayed in results if found is not None and not replayed) == 1
    assert sum(1 for found, replayed in results if found is not None and replayed) == 49


async def _twenty_uses_at_once(
    two: tuple[RedisStorage, RedisStorage, Clock], grace: float
) -> list[tuple[RefreshUse, IssuedTokens | None]]:
    """Twenty uses of one refresh token at once, alternating between the two stores."""
    first, second, clock = two
    record = refresh("c", "s1", clock.now + 3600)
    await first.put_refresh(record)
    return await asyncio.gather(
        *[
            (first if i % 2 else second).rotate_refresh(
                record.id,
                refresh("c", "s1", record.family_expires_at),
                issued(clock.now),
                clock.now,
                clock.now + grace,
            )
            for i in range(20)
        ]
    )


async def test_concurrent_uses_of_one_refresh_token_rotate_it_once(
    two: tuple[RedisStorage, RedisStorage, Clock],
) -> None:
    """Without a grace window, exactly one use succeeds; every other copy is a reuse, which
    revokes the family."""
    uses = [use for use, _answer in await _twenty_uses_at_once(two, grace=0)]
    assert uses.count(RefreshUse.OK) == 1
    assert set(uses) <= {RefreshUse.OK, RefreshUse.REUSED, RefreshUse.UNKNOWN}
    assert await two[1].session_revoked("s1", two[2].now)


async def test_concurrent_uses_within_the_grace_window_all_get_the_one_answer(
    two: tuple[RedisStorage, RedisStorage, Clock],
) -> None:
    """Twenty tabs refreshing at once through two processes: one rotation, one answer for all."""
    results = await _twenty_uses_at_once(two, grace=5)
    uses = [use for use, _answer in results]
    assert uses.count(RefreshUse.OK) == 1
    assert uses.count(RefreshUse.REPEATED) == 19
    assert len({answer for _use, answer in results}) == 1
    assert not await two[1].session_revoked("s1", two[2].now)


async def test_a_client_registered_through_one_store_is_known_to_the_other(
    two: tuple[RedisStorage, RedisStorage, Clock],
) -> None:
    first, second, clock = two
    known = client(clock.now)
    assert await first.add_client(known, clock.now)
    assert await second.get_client(known.client_id, clock.now) == known


async def test_every_key_has_a_ttl_but_the_bounded_registry(redis_server: RedisServer) -> None:
    """Nothing grows without bound: records expire with what they store."""
    clock, prefix = Clock(), f"test:{{{secrets.token_hex(6)}}}:"
    raw = aioredis.Redis(host="127.0.0.1", port=redis_server.port)
    store = redis_storage(raw, clock, Events(), prefix)
    known = client(clock.now)
    await store.add_client(known, clock.now)
    await store.put_pending(pending(known.client_id, clock.now + 600))
    await store.put_code("code-1", grant(known.client_id, "s1", clock.now + 60))
    await store.hold_client(known.client_id, "s1", clock.now + 3600)
    first = refresh(known.client_id, "s1", clock.now + 3600)
    await store.put_refresh(first)
    successor = refresh(known.client_id, "s1", first.family_expires_at)
    await store.rotate_refresh(first.id, successor, issued(clock.now), clock.now, clock.now + 5)
    await store.put_upstream_tokens("s1", UpstreamTokens("corp", "at"), clock.now + 3600)
    await store.revoke_session("s2", clock.now + 3600)
    registry = {f"{prefix}clients", f"{prefix}client:{known.client_id}", f"{prefix}holds:{known.client_id}"}
    keys = {key.decode() async for key in raw.scan_iter(f"{prefix}*")}
    assert registry <= keys
    for key in keys - registry:
        assert await raw.pttl(key) > 0, key
    await store.close()
    await raw.aclose()


async def test_a_dump_holds_no_code_refresh_token_upstream_token_or_kept_answer_in_clear(
    redis_server: RedisServer,
) -> None:
    """What a Redis dump shows of ids is their SHA-256; tokens and kept answers are sealed."""
    clock, prefix = Clock(), f"test:{{{secrets.token_hex(6)}}}:"
    raw = aioredis.Redis(host="127.0.0.1", port=redis_server.port)
    store = redis_storage(raw, clock, Events(), prefix)
    code_id, refresh_record, waiting = (
        secrets.token_urlsafe(24),
        refresh("c", "s1", clock.now + 3600),
        pending("c", clock.now + 600),
    )
    upstream = UpstreamTokens(
        "corp", "upstream-access-" + secrets.token_hex(8), "upstream-refresh-" + secrets.token_hex(8)
    )
    await store.put_code(code_id, grant("c", "s1", clock.now + 60))
    await store.put_refresh(refresh_record)
    answer = issued(clock.now)
    successor = refresh("c", "s1", refresh_record.family_expires_at)
    await store.rotate_refresh(refresh_record.id, successor, answer, clock.now, clock.now + 5)
    await store.put_pending(waiting)
    await store.put_upstream_tokens("s1", upstream, clock.now + 3600)
    dump = b""
    async for key in raw.scan_iter(f"{prefix}*"):
        dump += key + (await raw.dump(key) or b"")
    for secret in (
        code_id,
        refresh_record.id,
        successor.id,
        answer.access_token,
        answer.refresh_token or "",
        waiting.id,
        upstream.access_token,
        upstream.refresh_token or "",
    ):
        assert secret.encode() not in dump
    assert await store.get_upstream_tokens("s1", "corp", clock.now) == upstream
    await store.close()
    await raw.aclose()


async def test_sealed_upstream_tokens_open_after_the_secret_rotates(redis_server: RedisServer) -> None:
    clock, prefix = Clock(), f"test:{{{secrets.token_hex(6)}}}:"
    upstream = UpstreamTokens("corp", "at", "rt")
    before = redis_storage(aioredis.Redis(host="127.0.0.1", port=redis_server.port), clock, Events(), prefix)
    await before.put_upstream_tokens("s1", upstream, clock.now + 60)
    after = RedisStorage(
        aioredis.Redis(host="127.0.0.1", port=redis_server.port),
        key_prefix=prefix,
        sealer=Sealer([secrets.token_bytes(32), SECRET]),
        clock=clock,
    )
    assert await after.get_upstream_tokens("s1", "corp", clock.now) == upstream
    stranger = RedisStorage(
        aioredis.Redis(host="127.0.0.1", port=redis_server.port),
        key_prefix=prefix,
        sealer=Sealer([secrets.token_bytes(32)]),
        clock=clock,
    )
    with pytest.raises(StorageError):
        await stranger.get_upstream_tokens("s1", "corp", clock.now)
    for store in (before, after, stranger):
        await store.close()


async def test_redis_down_is_a_storage_error_not_a_hang_and_recovery_needs_no_restart(
    tmp_path: Path,
) -> None:
    # A server of this test's own: it is stopped and started again on the same port.
    node = RedisNode(free_port(), tmp_path).start()
    clock = Clock()
    store = redis_storage(
        aioredis.Redis(host="127.0.0.1", port=node.port, socket_connect_timeout=1, socket_timeout=1),
        clock,
        Events(),
    )
    try:
        known = client(clock.now)
        assert await store.add_client(known, clock.now)
        node.stop()
        async with asyncio.timeout(10):
            with pytest.raises(StorageError):
                await store.get_client(known.client_id, clock.now)
            with pytest.raises(StorageError):
                await store.check()
        node.start()
        await store.check()
        assert await store.get_client(known.client_id, clock.now) is None  # nothing was persisted
        assert await store.add_client(known, clock.now)
    finally:
        await store.close()
        node.stop()


async def test_a_write_no_replica_can_hold_is_refused_and_changes_nothing(redis_server: RedisServer) -> None:
    """With min_replicas_acks and no replica online, a registration is a StorageError (503) and
    the master keeps nothing of it: no state changes that no client was told about."""
    clock, prefix = Clock(), f"test:{{{secrets.token_hex(6)}}}:"
    raw = aioredis.Redis(host="127.0.0.1", port=redis_server.port)
    store = redis_storage(raw, clock, Events(), prefix, replicas_acks=1)
    try:
        with pytest.raises(NotReplicated):
            await store.add_client(client(clock.now), clock.now)
        assert [key async for key in raw.scan_iter(f"{prefix}*")] == []
    finally:
        await store.close()


async def test_an_acknowledged_write_is_already_on_the_replica(redis_sentinel: RedisSentinelServers) -> None:
    """min_replicas_acks: 1 — when a write is answered, the replica a failover would promote
    holds it (read from the replica at once, without waiting)."""
    config = sentinel_config(redis_sentinel)
    clock, prefix = Clock(), f"test:{{{secrets.token_hex(6)}}}:"
    store = redis_storage(redis_client(config, Secrets()), clock, Events(), prefix, replicas_acks=1)
    master = redis_sentinel.master_port()
    replica_port = next(node.port for node in redis_sentinel.nodes if node.port != master)
    replica = aioredis.Redis(host="127.0.0.1", port=replica_port)
    try:
        for _ in range(20):
            known = client(clock.now)
            assert await store.add_client(known, clock.now)
            assert await replica.exists(f"{prefix}client:{known.client_id}") == 1
    finally:
        await store.close()
        await replica.aclose()


async def test_the_documented_acl_rule_is_enough(redis_server: RedisServer) -> None:
    """docs/operations.md's ACL user (its keys, scripts, PING, WAIT, INFO) can run every
    operation, through the factory's acl_user_config path."""
    prefix = f"test:{{{secrets.token_hex(6)}}}:"
    user, password = f"sidecar-{secrets.token_hex(4)}", secrets.token_hex(16)
    admin = aioredis.Redis(host="127.0.0.1", port=redis_server.port)
    rule = ACL_RULE.replace("mcp-sidecar:{my-server}:", prefix).replace("PASSWORD", password).split()
    await admin.execute_command("ACL", "SETUSER", user, *rule)  # type: ignore[no-untyped-call]
    config = config_schema.RedisConfig(addr=f"127.0.0.1:{redis_server.port}", key_prefix=prefix)
    clock = Clock()
    store = redis_storage(
        redis_client(config, Secrets(redis_username=user, redis_password=password)), clock, Events(), prefix
    )
    try:
        known = client(clock.now)
        assert await store.add_client(known, clock.now)
        await store.touch_client(known.client_id, clock.now)
        await store.put_code("code-1", grant(known.client_id, "s1", clock.now + 60))
        assert (await store.consume_code("code-1", clock.now))[0] is not None
        first = refresh(known.client_id, "s1", clock.now + 3600)
        await store.put_refresh(first)
        successor = refresh(known.client_id, "s1", first.family_expires_at)
        assert (await store.rotate_refresh(first.id, successor, issued(clock.now), clock.now, clock.now + 5))[
            0
        ] is RefreshUse.OK
        await store.revoke_session("s1", clock.now + 3600)
        assert await store.session_revoked("s1", clock.now)
        await store.check()
        # min_replicas_acks asks INFO from inside the scripts and sends WAIT: allowed too (the
        # refusal is for the missing replica, not for a missing permission).
        strict = redis_storage(
            redis_client(config, Secrets(redis_username=user, redis_password=password)),
            clock,
            Events(),
            prefix,
            replicas_acks=1,
        )
        with pytest.raises(NotReplicated):
            await strict.add_client(client(clock.now), clock.now)
        with pytest.raises(NotReplicated):
            await strict.check()
        await strict.close()
    finally:
        await store.close()
        await admin.execute_command("ACL", "DELUSER", user)  # type: ignore[no-untyped-call]
        await admin.aclose()


ACL_RULE = next(
    line.removeprefix("ACL SETUSER mcp-sidecar ")
    for line in (Path(__file__).parents[2] / "docs" / "operations.md").read_text().splitlines()
    if line.startswith("ACL SETUSER mcp-sidecar ")
)


async def test_a_sentinel_that_is_down_is_skipped(redis_sentinel: RedisSentinelServers) -> None:
    """The first sentinel listed does not answer: the master is found through the next ones."""
    config = sentinel_config(redis_sentinel)
    sentinel = dataclasses.replace(
        config.sentinel_config or pytest.fail("a sentinel_config"),
        sentinel_addrs=(f"127.0.0.1:{free_port()}", *redis_sentinel.addrs),
    )
    clock = Clock()
    store = redis_storage(
        redis_client(dataclasses.replace(config, sentinel_config=sentinel), Secrets()),
        clock,
        Events(),
        replicas_acks=1,
    )
    try:
        known = client(clock.now)
        assert await store.add_client(known, clock.now)
        assert await store.get_client(known.client_id, clock.now) == known
    finally:
        await store.close()
