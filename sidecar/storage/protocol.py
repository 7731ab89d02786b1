# SPDX-License-Identifier: Apache-2.0
"""The storage protocol. Every method is one atomic step, so a Redis implementation can map
each single-use operation (codes, refresh rotation) onto one command or script.

The client registry has a lifecycle that every implementation keeps (``tests/storage`` is the
contract): a client is *held* while something of it is alive — an authorization in progress, an
unredeemed code, a session whose tokens have not expired — and idle otherwise. An idle client
expires ``client_idle_ttl`` after its last use; when the registry is at ``max_clients``, the least
recently used idle client makes room; only a registry of held clients refuses a registration.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

from sidecar.storage.records import (
    Client,
    CodeGrant,
    IssuedTokens,
    PendingAuthorization,
    RefreshRecord,
    UpstreamTokens,
)

EvictionReason = Literal["idle", "capacity"]


class StorageError(Exception):
    """The store cannot answer (answered with 503, never with 401)."""


class NotReplicated(StorageError):
    """The store answers, but fewer replicas than ``min_replicas_acks`` are online to hold a
    write, or acknowledged it in time (503: the write may or may not have happened)."""


class RefreshUse(enum.Enum):
    OK = "ok"  # current token of its family: rotated to its successor
    REPEATED = "repeated"  # rotated away within the grace window: answered as the first use was
    REUSED = "reused"  # rotated away before: the whole family has been revoked
    UNKNOWN = "unknown"  # never issued, expired, or its family was revoked


@dataclass(frozen=True, slots=True)
class StorageLimits:
    """How much a store keeps, and for how long an unused client."""

    max_clients: int = 1000
    client_idle_ttl: float = 30 * 86400.0
    max_pending: int = 10_000  # authorizations waiting for a login
    max_records: int = 100_000  # of each other kind: codes, refresh tokens, sessions, markers


class ClientEvents(Protocol):
    """What the store tells the metrics about its registry."""

    def client_evicted(self, reason: EvictionReason) -> None: ...

    def clients_registered(self, count: int) -> None: ...


class NoEvents:
    """ClientEvents that go nowhere."""

    def client_evicted(self, reason: EvictionReason) -> None:
        pass

    def clients_registered(self, count: int) -> None:
        pass


class HitCounter(Protocol):
    async def count_hit(self, key: str, window: float, now: float) -> int:
        """Count one hit of ``key`` in its current window, which starts at the first hit and lasts
        ``window`` seconds; returns the hits in it so far, this one included (rate limits)."""
        ...


class Storage(HitCounter, Protocol):
    async def add_client(self, client: Client, now: float) -> bool:
        """Store a client, making room from idle clients; False when every client is held."""
        ...

    async def get_client(self, client_id: str, now: float) -> Client | None:
        """The client, or None when it is unknown or expired."""
        ...

    async def touch_client(self, client_id: str, now: float) -> None:
        """The client was used (an authorization or a token request): its idle time restarts."""
        ...

    async def hold_client(self, client_id: str, holder: str, until: float) -> None:
        """Something of the client is alive until ``until`` (a pending authorization's id, a
        session's id): the client is not idle before then, unless the holder is released."""
        ...

    async def put_pending(self, pending: PendingAuthorization) -> None:
        """Store a pending authorization; it holds its client until it expires or is taken."""
        ...

    async def get_pending(self, pending_id: str, now: float) -> PendingAuthorization | None: ...

    async def replace_pending(self, pending: PendingAuthorization, now: float) -> bool:
        """Store a changed pending authorization in place of the one with its id, only while
        that one is still there (neither taken nor expired); False, storing nothing, otherwise."""
        ...

    async def take_pending(self, pending_id: str, now: float) -> PendingAuthorization | None:
        """Remove and return it (single use); its hold on the client ends."""
        ...

    async def put_code(self, code_id: str, grant: CodeGrant) -> None: ...

    async def consume_code(self, code_id: str, now: float) -> tuple[CodeGrant | None, bool]:
        """``(grant, replayed)``: the grant on first use; ``(grant, True)`` on any later use."""
        ...

    async def put_refresh(self, record: RefreshRecord) -> None:
        """Store a refresh token and make it the current one of its family."""
        ...

    async def rotate_refresh(
        self, token_id: str, successor: RefreshRecord, issued: IssuedTokens, now: float, grace_until: float
    ) -> tuple[RefreshUse, IssuedTokens | None]:
        """One atomic step. The current token of its family: ``successor`` becomes current and
        ``issued`` is kept for a repeat until ``grace_until`` -> ``(OK, issued)``. A rotated-away
        token before its ``grace_until``, while the token it was rotated to is still current ->
        ``(REPEATED, what its first use was answered with)``. Any other rotated-away token
        revokes the family -> ``(REUSED, None)``; an unknown one -> ``(UNKNOWN, None)``."""
        ...

    async def get_refresh(self, token_id: str, now: float) -> RefreshRecord | None:
        """Look a refresh token up without using it (revocation)."""
        ...

    async def revoke_session(self, session_id: str, until: float) -> None:
        """Revoke a login session: its refresh family, every access token carrying its id, the
        upstream tokens kept for it, and its hold on the client."""
        ...

    async def session_revoked(self, session_id: str, now: float) -> bool: ...

    async def put_upstream_tokens(self, session_id: str, tokens: UpstreamTokens, until: float) -> None: ...

    async def get_upstream_tokens(
        self, session_id: str, provider: str, now: float
    ) -> UpstreamTokens | None: ...

    async def replace_upstream_tokens(
        self, session_id: str, previous: UpstreamTokens, tokens: UpstreamTokens, now: float
    ) -> bool:
        """Store refreshed ``tokens`` in place of ``previous`` (same provider), keeping the
        record's expiry; False, storing nothing, when the stored tokens are no longer
        ``previous`` (another process stored newer ones, whose rotated refresh token must not be
        overwritten) or are gone."""
        ...

    async def acquire_lease(self, name: str, holder: str, until: float, now: float) -> bool:
        """Take the short lease ``name`` for ``holder`` until ``until``, unless another holder
        has it (across every process sharing the store: one upstream refresh at a time)."""
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """End the lease, if ``holder`` still holds it."""
        ...

    async def put_consent(self, user_id: str, client_id: str, scopes: tuple[str, ...], until: float) -> None:
        """Remember that the user allowed the client ``scopes`` (replacing what was remembered),
        until ``until``."""
        ...

    async def get_consent(self, user_id: str, client_id: str, now: float) -> tuple[str, ...] | None:
        """The scopes the user allowed the client, while the approval lasts."""
        ...

    async def revoke_consent(self, user_id: str, client_id: str) -> None:
        """Forget the user's approval of the client: the next authorization asks again."""
        ...

    async def check(self) -> None:
        """Raise StorageError unless the store answers (readiness)."""
        ...

    def sizes(self) -> Mapping[str, int]:
        """Entries kept, by kind (for the metrics; empty when counting would cost a round trip)."""
        ...

    async def close(self) -> None: ...
