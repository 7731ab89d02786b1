# SPDX-License-Identifier: Apache-2.0
"""The rules every store keeps: single use, rotation, and nothing kept past its life or bound."""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from sidecar.storage.protocol import RefreshUse
from sidecar.storage.records import (
    Client,
    CodeGrant,
    IssuedTokens,
    PendingAuthorization,
    RefreshRecord,
    UpstreamTokens,
    UserInfo,
)
from tests.storage.conftest import LIMITS, Store
from tests.support import wait_for

USER = UserInfo(user_id="u1", provider="local")


def client(now: float) -> Client:
    return Client(
        client_id=secrets.token_urlsafe(8),
        redirect_uris=("http://127.0.0.1/cb",),
        token_endpoint_auth_method="none",
        secret_hash=None,
        grant_types=("authorization_code", "refresh_token"),
        application_type="native",
        client_name=None,
        scope=None,
        created_at=now,
    )


def pending(client_id: str, expires_at: float) -> PendingAuthorization:
    return PendingAuthorization(
        id=secrets.token_urlsafe(8),
        client_id=client_id,
        redirect_uri="http://127.0.0.1/cb",
        state=None,
        code_challenge="c",
        scopes=(),
        resource="r",
        upstream="local",
        browser_binding="b",
        expires_at=expires_at,
    )


def grant(client_id: str, session_id: str, expires_at: float) -> CodeGrant:
    return CodeGrant(client_id, "http://127.0.0.1/cb", "c", (), "r", USER, session_id, expires_at)


def refresh(client_id: str, session_id: str, expires_at: float) -> RefreshRecord:
    return RefreshRecord(secrets.token_urlsafe(8), session_id, client_id, (), "r", USER, expires_at)


def issued(now: float) -> IssuedTokens:
    """An answer to a refresh, told apart from every other by its tokens."""
    return IssuedTokens("at-" + secrets.token_hex(8), "rt-" + secrets.token_hex(8), "", 60, now)


async def rotate(
    store: Store, token: RefreshRecord, grace: float = 0.0
) -> tuple[RefreshUse, IssuedTokens | None, IssuedTokens, RefreshRecord]:
    """Use ``token`` as a refresh would: ``(use, answer, the answer offered, the successor)``."""
    successor = refresh(token.client_id, token.session_id, token.family_expires_at)
    offered = issued(store.clock.now)
    now = store.clock.now
    use, answer = await store.storage.rotate_refresh(token.id, successor, offered, now, now + grace)
    return use, answer, offered, successor


async def register(store: Store) -> Client:
    """A new client, registered a second after the one before (ties in last use have no order)."""
    store.clock.now += 1
    new = client(store.clock.now)
    assert await store.storage.add_client(new, store.clock.now)
    return new


# -- the client registry -----------------------------------------------------------------------


async def test_idle_client_expires_after_client_idle_ttl(store: Store) -> None:
    """A client with nothing alive is gone client_idle_ttl after its last use."""
    known = await register(store)
    store.clock.now += LIMITS.client_idle_ttl - 1
    assert await store.storage.get_client(known.client_id, store.clock.now) == known
    store.clock.now += 2
    assert await store.storage.get_client(known.client_id, store.clock.now) is None
    assert store.events.evicted == ["idle"]
    assert store.events.count == 0


async def test_use_restarts_the_idle_time(store: Store) -> None:
    known = await register(store)
    store.clock.now += LIMITS.client_idle_ttl - 1
    await store.storage.touch_client(known.client_id, store.clock.now)
    store.clock.now += LIMITS.client_idle_ttl - 1
    assert await store.storage.get_client(known.client_id, store.clock.now) == known


async def test_held_client_outlives_its_idle_time_until_the_hold_ends(store: Store) -> None:
    """A session holds its client past client_idle_ttl; when the session expires, it is idle."""
    known = await register(store)
    session_end = store.clock.now + 2 * LIMITS.client_idle_ttl
    await store.storage.hold_client(known.client_id, "session-1", session_end)
    store.clock.now = session_end - 1
    assert await store.storage.get_client(known.client_id, store.clock.now) == known
    store.clock.now = session_end
    assert await store.storage.get_client(known.client_id, store.clock.now) is None


async def test_revoked_session_releases_its_client_at_once(store: Store) -> None:
    known = await register(store)
    await store.storage.hold_client(known.client_id, "s1", store.clock.now + 10 * LIMITS.client_idle_ttl)
    await store.storage.revoke_session("s1", store.clock.now + 100)
    store.clock.now += LIMITS.client_idle_ttl + 1
    assert await store.storage.get_client(known.client_id, store.clock.now) is None


async def test_full_registry_evicts_the_least_recently_used_idle_client(store: Store) -> None:
    oldest, middle, newest = [await register(store) for _ in range(3)]
    store.clock.now += 1
    await store.storage.touch_client(oldest.client_id, store.clock.now)  # now middle is the LRU
    await register(store)
    assert await store.storage.get_client(middle.client_id, store.clock.now) is None
    for kept in (oldest, newest):
        assert await store.storage.get_client(kept.client_id, store.clock.now) == kept
    assert store.events.evicted == ["capacity"]
    assert store.events.count == 3


async def test_full_registry_never_evicts_a_held_client(store: Store) -> None:
    """Only a registry of held clients refuses; when one hold ends, registration works again."""
    clients = [await register(store) for _ in range(3)]
    for index, known in enumerate(clients):
        await store.storage.hold_client(known.client_id, f"s{index}", store.clock.now + 600)
    assert not await store.storage.add_client(client(store.clock.now), store.clock.now)
    assert all([await store.storage.get_client(c.client_id, store.clock.now) for c in clients])
    await store.storage.revoke_session("s1", store.clock.now + 600)
    assert await store.storage.add_client(client(store.clock.now), store.clock.now)
    assert await store.storage.get_client(clients[1].client_id, store.clock.now) is None


async def test_pending_authorization_holds_its_client_until_taken(store: Store) -> None:
    clients = [await register(store) for _ in range(3)]
    waiting = pending(clients[0].client_id, store.clock.now + 600)
    await store.storage.put_pending(waiting)
    for index, known in enumerate(clients[1:]):
        await store.storage.hold_client(known.client_id, f"s{index}", store.clock.now + 600)
    assert not await store.storage.add_client(client(store.clock.now), store.clock.now)
    assert await store.storage.take_pending(waiting.id, store.clock.now) == waiting
    assert await store.storage.add_client(client(store.clock.now), store.clock.now)


# -- single use and rotation -------------------------------------------------------------------


async def test_code_is_single_use_and_a_replay_is_reported(store: Store) -> None:
    await store.storage.put_code("c1", grant("client", "s1", store.clock.now + 60))
    first, replayed = await store.storage.consume_code("c1", store.clock.now)
    assert first is not None
    assert not replayed
    again, replayed = await store.storage.consume_code("c1", store.clock.now)
    assert again == first
    assert replayed


async def test_pending_is_replaced_only_while_it_is_there(store: Store) -> None:
    """A change to a pending authorization never brings back one that was taken or expired."""
    waiting = pending("client", store.clock.now + 600)
    await store.storage.put_pending(waiting)
    changed = dataclasses.replace(waiting, user=USER)
    assert await store.storage.replace_pending(changed, store.clock.now)
    assert await store.storage.get_pending(waiting.id, store.clock.now) == changed
    assert await store.storage.take_pending(waiting.id, store.clock.now) == changed
    assert not await store.storage.replace_pending(changed, store.clock.now)
    assert await store.storage.get_pending(waiting.id, store.clock.now) is None
    late = pending("client", store.clock.now + 600)
    await store.storage.put_pending(late)
    store.clock.now += 600
    assert not await store.storage.replace_pending(late, store.clock.now)


async def test_pending_is_taken_once(store: Store) -> None:
    waiting = pending("client", store.clock.now + 600)
    await store.storage.put_pending(waiting)
    assert await store.storage.take_pending(waiting.id, store.clock.now) == waiting
    assert await store.storage.take_pending(waiting.id, store.clock.now) is None


async def test_a_later_leg_of_a_chain_keeps_its_session_and_user(store: Store) -> None:
    leg = dataclasses.replace(
        pending("client", store.clock.now + 600), leg=1, session_id="sess", user=USER, upstream="second"
    )
    await store.storage.put_pending(leg)
    assert await store.storage.take_pending(leg.id, store.clock.now) == leg


async def test_rotated_refresh_token_reused_revokes_the_family(store: Store) -> None:
    """Without a grace window, any second use of a token revokes its family (RFC 9700 §4.14.2)."""
    first = refresh("client", "s1", store.clock.now + 3600)
    await store.storage.put_refresh(first)
    use, answer, offered, second = await rotate(store, first)
    assert (use, answer) == (RefreshUse.OK, offered)
    assert (await rotate(store, first))[:2] == (RefreshUse.REUSED, None)
    assert await store.storage.session_revoked("s1", store.clock.now)
    assert (await rotate(store, second))[:2] == (RefreshUse.UNKNOWN, None)


async def test_repeat_within_the_grace_window_gets_the_same_pair_and_the_family_lives(store: Store) -> None:
    """Two tabs, or a retry after a lost response: the same answer, no revocation."""
    first = refresh("client", "s1", store.clock.now + 3600)
    await store.storage.put_refresh(first)
    _use, answer, _offered, second = await rotate(store, first, grace=5)
    store.clock.now += 4
    use, again, offered, _unused = await rotate(store, first, grace=5)
    assert (use, again) == (RefreshUse.REPEATED, answer)
    assert again != offered
    assert not await store.storage.session_revoked("s1", store.clock.now)
    assert (await rotate(store, second, grace=5))[0] is RefreshUse.OK


async def test_repeat_after_the_grace_window_revokes_the_family(store: Store) -> None:
    """At the end of the window (and after), a spent token is a reuse again."""
    first = refresh("client", "s1", store.clock.now + 3600)
    await store.storage.put_refresh(first)
    _use, _answer, _offered, second = await rotate(store, first, grace=5)
    store.clock.now += 5
    assert (await rotate(store, first, grace=5))[:2] == (RefreshUse.REUSED, None)
    assert await store.storage.session_revoked("s1", store.clock.now)
    assert (await rotate(store, second, grace=5))[0] is RefreshUse.UNKNOWN


async def test_repeat_after_the_successor_was_used_revokes_the_family(store: Store) -> None:
    """The grace window replays an answer only while its refresh token is the family's current
    one: a token two rotations old is a copy, whenever it comes back."""
    first = refresh("client", "s1", store.clock.now + 3600)
    await store.storage.put_refresh(first)
    _use, _answer, _offered, second = await rotate(store, first, grace=5)
    assert (await rotate(store, second, grace=5))[0] is RefreshUse.OK
    assert (await rotate(store, first, grace=5))[:2] == (RefreshUse.REUSED, None)
    assert await store.storage.session_revoked("s1", store.clock.now)


# -- bounds: time and count --------------------------------------------------------------------


@pytest.mark.parametrize("store", ["memory"], indirect=True)  # Redis: TTLs, in test_redis.py
async def test_records_leave_when_they_expire_without_further_writes(store: Store) -> None:
    """Expiry, not a write counter, empties the stores."""
    await store.storage.put_pending(pending("client", store.clock.now + 600))
    await store.storage.put_code("c1", grant("client", "s1", store.clock.now + 60))
    await store.storage.put_refresh(refresh("client", "s1", store.clock.now + 3600))
    await store.storage.revoke_session("s2", store.clock.now + 3600)
    sizes = store.storage.sizes()
    assert sizes["pending_authorizations"] == sizes["codes"] == sizes["refresh_tokens"] == 1
    store.clock.now += 3600
    after = store.storage.sizes()
    assert after["pending_authorizations"] == after["codes"] == after["refresh_tokens"] == 0
    assert after["sessions"] == after["revoked_sessions"] == 0


@pytest.mark.parametrize("store", ["memory"], indirect=True)  # Redis: maxmemory bounds it
async def test_each_store_is_bounded_by_count(store: Store) -> None:
    for _ in range(3 * LIMITS.max_pending):
        await store.storage.put_pending(pending("client", store.clock.now + 600))
    for index in range(3 * LIMITS.max_records):
        await store.storage.put_code(f"c{index}", grant("client", f"s{index}", store.clock.now + 60))
    sizes = store.storage.sizes()
    assert sizes["pending_authorizations"] == LIMITS.max_pending
    assert sizes["codes"] == LIMITS.max_records


# -- rate-limit counts ---------------------------------------------------------------------------


async def test_hits_are_counted_per_key_in_a_window_from_the_first_hit(store: Store) -> None:
    """Counts grow within a window and keys never mix."""
    now = store.clock.now
    counts = [await store.storage.count_hit("login:10.0.0.1", 60, now + second) for second in (0, 1, 2)]
    assert counts == [1, 2, 3]
    assert await store.storage.count_hit("login:10.0.0.2", 60, now + 3) == 1
    assert await store.storage.count_hit("register:10.0.0.1", 60, now + 4) == 1


@pytest.mark.parametrize("store", ["memory"], indirect=True)  # Redis: its TTL ends the window
async def test_hits_start_again_after_the_window(store: Store) -> None:
    now = store.clock.now
    assert [await store.storage.count_hit("k", 60, now + second) for second in (0, 59)] == [1, 2]
    assert await store.storage.count_hit("k", 60, now + 60) == 1


async def test_refreshed_upstream_tokens_replace_only_the_tokens_they_were_refreshed_from(
    store: Store,
) -> None:
    """A slow refresh never overwrites the rotated refresh token a concurrent one stored."""
    s, now = store.storage, store.clock.now
    old = UpstreamTokens("idp", access_token="a0", refresh_token="r0", expires_at=now + 5)
    await s.put_upstream_tokens("sess", old, now + 3600)
    first = UpstreamTokens("idp", access_token="a1", refresh_token="r1", expires_at=now + 60)
    late = UpstreamTokens("idp", access_token="a2", refresh_token="r2", expires_at=now + 60)
    assert await s.replace_upstream_tokens("sess", old, first, now)
    assert not await s.replace_upstream_tokens("sess", old, late, now)
    assert await s.get_upstream_tokens("sess", "idp", now) == first
    store.clock.now = now + 3600  # the record keeps the session's expiry
    assert await s.get_upstream_tokens("sess", "idp", store.clock.now) is None
    assert not await s.replace_upstream_tokens("sess", first, late, store.clock.now)


async def test_lease_has_one_holder_until_released_or_expired(store: Store) -> None:
    s, now = store.storage, store.clock.now
    assert await s.acquire_lease("refresh:sess:idp", "one", now + 10, now)
    assert not await s.acquire_lease("refresh:sess:idp", "two", now + 10, now)
    await s.release_lease("refresh:sess:idp", "two")  # not its lease: nothing happens
    assert not await s.acquire_lease("refresh:sess:idp", "two", now + 10, now)
    await s.release_lease("refresh:sess:idp", "one")
    assert await s.acquire_lease("refresh:sess:idp", "two", now + 0.2, now)
    store.clock.now = now + 0.3  # Redis expires a lease on its own clock: wait for it
    await wait_for(
        lambda: s.acquire_lease("refresh:sess:idp", "three", now + 10.3, now + 0.3),
        what="the lease to expire",
    )


# -- remembered consent ------------------------------------------------------------------------


async def test_consent_is_remembered_per_user_and_client_until_it_expires(store: Store) -> None:
    storage, now = store.storage, store.clock.now
    await storage.put_consent("u1", "c1", ("openid", "email"), now + 100)
    assert await storage.get_consent("u1", "c1", now) == ("openid", "email")
    assert await storage.get_consent("u2", "c1", now) is None
    assert await storage.get_consent("u1", "c2", now) is None
    store.clock.now = now + 100
    assert await storage.get_consent("u1", "c1", store.clock.now) is None


async def test_consent_replaced_and_revoked(store: Store) -> None:
    storage, now = store.storage, store.clock.now
    await storage.put_consent("u1", "c1", ("openid",), now + 100)
    await storage.put_consent("u1", "c1", ("openid", "profile"), now + 200)
    assert await storage.get_consent("u1", "c1", now + 150) == ("openid", "profile")
    await storage.revoke_consent("u1", "c1")
    assert await storage.get_consent("u1", "c1", now) is None
