# SPDX-License-Identifier: Apache-2.0
"""In-process storage: dicts with expiry times, swept as they are written, with bounded sizes.

One event loop runs every method to completion without awaiting in between, so each method is
atomic. State lives in one process: more workers or replicas need a shared store.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

from sidecar.storage.protocol import RefreshUse
from sidecar.storage.records import Client, CodeGrant, PendingAuthorization, RefreshRecord, UpstreamTokens

T = TypeVar("T")
MAX_ENTRIES = 100_000


class _Expiring(Generic[T]):
    """Insertion-ordered map of ``key -> (value, expires_at)``, bounded and swept on write."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._items: OrderedDict[str, tuple[T, float]] = OrderedDict()
        self._max = max_entries

    def put(self, key: str, value: T, expires_at: float) -> None:
        self._items[key] = (value, expires_at)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    def get(self, key: str, now: float) -> T | None:
        item = self._items.get(key)
        if item is None:
            return None
        if now >= item[1]:
            del self._items[key]
            return None
        return item[0]

    def pop(self, key: str, now: float) -> T | None:
        value = self.get(key, now)
        self._items.pop(key, None)
        return value

    def pop_prefix(self, prefix: str) -> None:
        for key in [key for key in self._items if key.startswith(prefix)]:
            del self._items[key]

    def sweep(self, now: float) -> None:
        for key in [key for key, (_value, expires_at) in self._items.items() if now >= expires_at]:
            del self._items[key]

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


class MemoryStorage:
    def __init__(self) -> None:
        self._clients: OrderedDict[str, Client] = OrderedDict()
        self._used_clients: set[str] = set()
        self._pending: _Expiring[PendingAuthorization] = _Expiring()
        self._codes: _Expiring[_Code] = _Expiring()
        self._refresh: _Expiring[RefreshRecord] = _Expiring()
        self._families: _Expiring[_Family] = _Expiring()
        self._revoked: _Expiring[bool] = _Expiring()
        self._upstream: _Expiring[UpstreamTokens] = _Expiring()
        self._writes = 0

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes % 1000 == 0:
            now = time.time()
            for store in (
                self._pending,
                self._codes,
                self._refresh,
                self._families,
                self._revoked,
                self._upstream,
            ):
                store.sweep(now)

    async def add_client(self, client: Client, max_clients: int) -> bool:
        if len(self._clients) >= max_clients:
            # Make room only from clients that never got a token and are past the time a login
            # takes: a registration flood must not push out clients people use.
            idle_before = client.created_at - 600
            victim = next(
                (
                    cid
                    for cid, known in self._clients.items()
                    if cid not in self._used_clients and known.created_at < idle_before
                ),
                None,
            )
            if victim is None:
                return False
            del self._clients[victim]
        self._clients[client.client_id] = client
        return True

    async def mark_client_used(self, client_id: str) -> None:
        self._used_clients.add(client_id)

    async def get_client(self, client_id: str) -> Client | None:
        return self._clients.get(client_id)

    async def put_pending(self, pending: PendingAuthorization) -> None:
        self._pending.put(pending.id, pending, pending.expires_at)
        self._wrote()

    async def get_pending(self, pending_id: str, now: float) -> PendingAuthorization | None:
        return self._pending.get(pending_id, now)

    async def take_pending(self, pending_id: str, now: float) -> PendingAuthorization | None:
        return self._pending.pop(pending_id, now)

    async def put_code(self, code_id: str, grant: CodeGrant) -> None:
        self._codes.put(code_id, _Code(grant), grant.expires_at)

    async def consume_code(self, code_id: str, now: float) -> tuple[CodeGrant | None, bool]:
        code = self._codes.get(code_id, now)
        if code is None:
            return None, False
        replayed, code.used = code.used, True
        return code.grant, replayed

    async def put_refresh(self, record: RefreshRecord) -> None:
        self._refresh.put(record.id, record, record.family_expires_at)
        self._families.put(
            record.session_id, _Family(record.id, record.family_expires_at), record.family_expires_at
        )
        self._wrote()

    async def use_refresh(self, token_id: str, now: float) -> tuple[RefreshRecord | None, RefreshUse]:
        record = self._refresh.get(token_id, now)
        if record is None:
            return None, RefreshUse.UNKNOWN
        family = self._families.get(record.session_id, now)
        if family is None or self._revoked.get(record.session_id, now):
            return None, RefreshUse.UNKNOWN
        if family.current != token_id:
            # RFC 9700 §4.14.2: a rotated-away token came back; someone holds a copy.
            await self.revoke_session(record.session_id, record.family_expires_at)
            return record, RefreshUse.REUSED
        family.current = None
        return record, RefreshUse.OK

    async def get_refresh(self, token_id: str, now: float) -> RefreshRecord | None:
        return self._refresh.get(token_id, now)

    async def revoke_session(self, session_id: str, until: float) -> None:
        self._revoked.put(session_id, True, until)
        self._families.pop(session_id, 0.0)
        self._upstream.pop_prefix(f"{session_id}\0")  # the user's upstream tokens go with it

    async def session_revoked(self, session_id: str, now: float) -> bool:
        return bool(self._revoked.get(session_id, now))

    async def put_upstream_tokens(self, session_id: str, tokens: UpstreamTokens, until: float) -> None:
        self._upstream.put(f"{session_id}\0{tokens.provider}", tokens, until)

    async def get_upstream_tokens(self, session_id: str, provider: str, now: float) -> UpstreamTokens | None:
        return self._upstream.get(f"{session_id}\0{provider}", now)

    async def close(self) -> None:
        self._clients.clear()
