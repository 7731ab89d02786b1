# SPDX-License-Identifier: Apache-2.0
"""In-process storage: dicts with expiry times, bounded by count, emptied as time passes.

One event loop runs every method to completion without awaiting in between, so each method is
atomic. State lives in one process: more workers or replicas need a shared store.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sidecar.storage.protocol import ClientEvents, EvictionReason, NoEvents, RefreshUse, StorageLimits
from sidecar.storage.records import (
    Client,
    CodeGrant,
    IssuedTokens,
    PendingAuthorization,
    RefreshRecord,
    UpstreamTokens,
)

T = TypeVar("T")


class _Expiring(Generic[T]):
    """``key -> (value, expires_at)``, at most ``max_entries`` (the soonest to expire goes first).

    Expired entries leave on the next call at or after their expiry, through a heap of expiry
    times, whatever the rate of writes.
    """

    def __init__(self, max_entries: int) -> None:
        self._items: dict[str, tuple[T, float]] = {}
        self._heap: list[tuple[float, str]] = []
        self._max = max_entries

    def put(self, key: str, value: T, expires_at: float, now: float) -> None:
        self.expire(now)
        self._items[key] = (value, expires_at)
        heapq.heappush(self._heap, (expires_at, key))
        while len(self._items) > self._max:
            self._pop_soonest()
        if len(self._heap) > 2 * len(self._items) + 1024:  # entries replaced or popped
            self._heap = [(expires_at, key) for key, (_value, expires_at) in self._items.items()]
            heapq.heapify(self._heap)

    def get(self, key: str, now: float) -> T | None:
        self.expire(now)
        item = self._items.get(key)
        return item[0] if item is not None else None

    def replace(self, key: str, value: T, now: float) -> bool:
        """Put ``value`` in place of a live entry, keeping its expiry; False when there is none."""
        self.expire(now)
        item = self._items.get(key)
        if item is None:
            return False
        self._items[key] = (value, item[1])
        return True

    def pop(self, key: str, now: float) -> T | None:
        value = self.get(key, now)
        self._items.pop(key, None)
        return value

    def pop_prefix(self, prefix: str) -> None:
        for key in [key for key in self._items if key.startswith(prefix)]:
            del self._items[key]

    def expire(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            _expires_at, key = heapq.heappop(self._heap)
            item = self._items.get(key)
            if item is not None and item[1] <= now:
                del self._items[key]

    def _pop_soonest(self) -> None:
        _expires_at, key = heapq.heappop(self._heap)
        self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(slots=True)
class _Code:
    grant: CodeGrant
    used: bool = False


@dataclass(slots=True)
class _Family:
    current: str | None
    expires_at: float


@dataclass(slots=True)
class _Registered:
    client: Client
    last_used: float
    holds: dict[str, float] = field(default_factory=dict)  # holder -> until

    def held(self, now: float) -> bool:
        for holder in [holder for holder, until in self.holds.items() if until <= now]:
            del self.holds[holder]
        return bool(self.holds)


class WindowCounts:
    """Hits per key in fixed windows (a ``HitCounter``), in this process, bounded by count."""

    def __init__(self, max_entries: int) -> None:
        self._counts: _Expiring[tuple[int, float]] = _Expiring(max_entries)  # key -> (hits, window end)

    async def count_hit(self, key: str, window: float, now: float) -> int:
        hits, ends = self._counts.get(key, now) or (0, now + window)
        self._counts.put(key, (hits + 1, ends), ends, now)
        return hits + 1


class MemoryStorage:
    def __init__(
        self,
        limits: StorageLimits | None = None,
        *,
        events: ClientEvents | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._limits = limits or StorageLimits()
        self._events = events or NoEvents()
        self._clock = clock
        self._clients: OrderedDict[str, _Registered] = OrderedDict()  # least recently used first
        records = self._limits.max_records
        self._holders: _Expiring[str] = _Expiring(records)  # holder -> client id
        self._pending: _Expiring[PendingAuthorization] = _Expiring(self._limits.max_pending)
        self._codes: _Expiring[_Code] = _Expiring(records)
        self._refresh: _Expiring[RefreshRecord] = _Expiring(records)
        self._families: _Expiring[_Family] = _Expiring(records)
        # rotated-away token -> (the token it was rotated to, the answer), for the grace window
        self._answers: _Expiring[tuple[str, IssuedTokens]] = _Expiring(records)
        self._revoked: _Expiring[bool] = _Expiring(records)
        self._upstream: _Expiring[UpstreamTokens] = _Expiring(records)
        self._hits = WindowCounts(records)
        self._leases: _Expiring[str] = _Expiring(records)  # name -> holder
        self._consents: _Expiring[tuple[str, ...]] = _Expiring(records)

    # -- the client registry ----------------------------------------------------------------

    async def add_client(self, client: Client, now: float) -> bool:
        self._expire_idle(now)
        if len(self._clients) >= self._limits.max_clients:
            # A registration flood must not push out clients people use: only an idle client
            # (nothing of it alive) makes room, the least recently used first.
            victim = next((cid for cid, entry in self._clients.items() if not entry.held(now)), None)
            if victim is None:
                return False
            self._evict(victim, "capacity")
        self._clients[client.client_id] = _Registered(client, last_used=now)
        self._events.clients_registered(len(self._clients))
        return True

    async def get_client(self, client_id: str, now: float) -> Client | None:
        self._expire_idle(now)
        entry = self._clients.get(client_id)
        return entry.client if entry is not None else None

    async def touch_client(self, client_id: str, now: float) -> None:
        entry = self._clients.get(client_id)
        if entry is not None:
            entry.last_used = max(entry.last_used, now)
            self._clients.move_to_end(client_id)

    async def hold_client(self, client_id: str, holder: str, until: float) -> None:
        entry = self._clients.get(client_id)
        if entry is not None:
            entry.holds[holder] = max(entry.holds.get(holder, until), until)
            self._holders.put(holder, client_id, entry.holds[holder], self._clock())

    def _release(self, holder: str, now: float) -> None:
        client_id = self._holders.pop(holder, now)
        entry = self._clients.get(client_id) if client_id is not None else None
        if entry is not None:
            entry.holds.pop(holder, None)

    def _expire_idle(self, now: float) -> None:
        cutoff = now - self._limits.client_idle_ttl
        idle = []
        for client_id, entry in self._clients.items():
            if entry.last_used > cutoff:
                break
            if not entry.held(now):
                idle.append(client_id)
        for client_id in idle:
            self._evict(client_id, "idle")

    def _evict(self, client_id: str, reason: EvictionReason) -> None:
        del self._clients[client_id]
        self._events.client_evicted(reason)
        self._events.clients_registered(len(self._clients))

    # -- the authorization flow -------------------------------------------------------------

    async def put_pending(self, pending: PendingAuthorization) -> None:
        self._pending.put(pending.id, pending, pending.expires_at, self._clock())
        await self.hold_client(pending.client_id, pending.id, pending.expires_at)

    async def get_pending(self, pending_id: str, now: float) -> PendingAuthorization | None:
        return self._pending.get(pending_id, now)

    async def replace_pending(self, pending: PendingAuthorization, now: float) -> bool:
        current = self._pending.get(pending.id, now)
        if current is None:
            return False
        self._pending.put(pending.id, pending, current.expires_at, now)
        return True

    async def take_pending(self, pending_id: str, now: float) -> PendingAuthorization | None:
        self._release(pending_id, now)
        return self._pending.pop(pending_id, now)

    async def put_code(self, code_id: str, grant: CodeGrant) -> None:
        self._codes.put(code_id, _Code(grant), grant.expires_at, self._clock())

    async def consume_code(self, code_id: str, now: float) -> tuple[CodeGrant | None, bool]:
        code = self._codes.get(code_id, now)
        if code is None:
            return None, False
        replayed, code.used = code.used, True
        return code.grant, replayed

    async def put_refresh(self, record: RefreshRecord) -> None:
        now = self._clock()
        self._refresh.put(record.id, record, record.family_expires_at, now)
        self._families.put(
            record.session_id, _Family(record.id, record.family_expires_at), record.family_expires_at, now
        )

    async def rotate_refresh(
        self, token_id: str, successor: RefreshRecord, issued: IssuedTokens, now: float, grace_until: float
    ) -> tuple[RefreshUse, IssuedTokens | None]:
        record = self._refresh.get(token_id, now)
        if record is None:
            return RefreshUse.UNKNOWN, None
        family = self._families.get(record.session_id, now)
        if family is None or self._revoked.get(record.session_id, now):
            return RefreshUse.UNKNOWN, None
        if family.current != token_id:
            answer = self._answers.get(token_id, now)
            if answer is not None and answer[0] == family.current:
                return RefreshUse.REPEATED, answer[1]
            # RFC 9700 §4.14.2: a rotated-away token came back; someone holds a copy.
            await self.revoke_session(record.session_id, record.family_expires_at)
            return RefreshUse.REUSED, None
        self._refresh.put(successor.id, successor, successor.family_expires_at, now)
        family.current = successor.id
        if grace_until > now:
            self._answers.put(token_id, (successor.id, issued), grace_until, now)
        return RefreshUse.OK, issued

    async def get_refresh(self, token_id: str, now: float) -> RefreshRecord | None:
        return self._refresh.get(token_id, now)

    async def revoke_session(self, session_id: str, until: float) -> None:
        now = self._clock()
        self._revoked.put(session_id, True, until, now)
        self._families.pop(session_id, now)
        self._upstream.pop_prefix(f"{session_id}\0")  # the user's upstream tokens go with it
        self._release(session_id, now)  # a revoked session no longer holds its client

    async def session_revoked(self, session_id: str, now: float) -> bool:
        return bool(self._revoked.get(session_id, now))

    async def put_upstream_tokens(self, session_id: str, tokens: UpstreamTokens, until: float) -> None:
        self._upstream.put(f"{session_id}\0{tokens.provider}", tokens, until, self._clock())

    async def get_upstream_tokens(self, session_id: str, provider: str, now: float) -> UpstreamTokens | None:
        return self._upstream.get(f"{session_id}\0{provider}", now)

    async def replace_upstream_tokens(
        self, session_id: str, previous: UpstreamTokens, tokens: UpstreamTokens, now: float
    ) -> bool:
        key = f"{session_id}\0{previous.provider}"
        stored = self._upstream.get(key, now)
        if stored is None or stored.access_token != previous.access_token:
            return False
        return self._upstream.replace(key, tokens, now)

    async def acquire_lease(self, name: str, holder: str, until: float, now: float) -> bool:
        if self._leases.get(name, now) is not None:
            return False
        self._leases.put(name, holder, until, now)
        return True

    async def release_lease(self, name: str, holder: str) -> None:
        if self._leases.get(name, self._clock()) == holder:
            self._leases.pop(name, self._clock())

    async def check(self) -> None:
        pass

    async def count_hit(self, key: str, window: float, now: float) -> int:
        return await self._hits.count_hit(key, window, now)

    # -- remembered consent ------------------------------------------------------------------

    async def put_consent(self, user_id: str, client_id: str, scopes: tuple[str, ...], until: float) -> None:
        self._consents.put(_consent_key(user_id, client_id), scopes, until, self._clock())

    async def get_consent(self, user_id: str, client_id: str, now: float) -> tuple[str, ...] | None:
        return self._consents.get(_consent_key(user_id, client_id), now)

    async def revoke_consent(self, user_id: str, client_id: str) -> None:
        self._consents.pop(_consent_key(user_id, client_id), self._clock())

    def sizes(self) -> Mapping[str, int]:
        now = self._clock()
        stores: dict[str, _Expiring[Any]] = {
            "client_holds": self._holders,
            "pending_authorizations": self._pending,
            "codes": self._codes,
            "refresh_tokens": self._refresh,
            "sessions": self._families,
            "refresh_answers": self._answers,
            "revoked_sessions": self._revoked,
            "upstream_tokens": self._upstream,
            "leases": self._leases,
        }
        for store in stores.values():
            store.expire(now)
        return {"clients": len(self._clients)} | {name: len(store) for name, store in stores.items()}

    async def close(self) -> None:
        self._clients.clear()


def _consent_key(user_id: str, client_id: str) -> str:
    return f"{user_id}\0{client_id}"
