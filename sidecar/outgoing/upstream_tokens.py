# SPDX-License-Identifier: Apache-2.0
"""The user's upstream access token, fresh: read from the store by the sidecar session (the
``tsid`` claim) and refreshed with ``Upstream.refresh()`` when it expires within a margin.

One refresh per (session, provider) however many requests arrive together: within the process
the first request starts it as a task of its own and every request waits for its result (single
flight); across processes the task first takes a short lease in the store (``SET NX PX``), and
a process that cannot take it waits for the tokens the holder stores. The holder re-reads the
tokens under the lease (another process may have just refreshed) and stores the new ones by
compare-and-set, so a rotated refresh token is never overwritten by an older one.

Tokens that are not expiring are kept in the process for up to ``WARM_FOR`` seconds, so a warm
token costs no store round trip per MCP request (with Redis, one per user and provider every few
seconds). That is safe: a kept access token is still valid at its provider, and a revoked sidecar
session is refused by the token validator before outgoing auth runs.

A refresh the provider refuses (RFC 6749 §5.2 ``invalid_grant``: revoked, expired, rotated away)
means the user must log in again: ``ReauthorizationNeeded`` (401). A provider or store that does
not answer is ``UpstreamUnreachable`` (503).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Protocol

import structlog

from sidecar.authserver.upstreams.protocol import Upstream, UpstreamRefused, UpstreamUnavailable
from sidecar.observability.metrics import Metrics
from sidecar.outgoing.errors import ReauthorizationNeeded, UpstreamUnreachable
from sidecar.storage.protocol import Storage, StorageError
from sidecar.storage.records import UpstreamTokens

log = structlog.get_logger("sidecar.outgoing")

LEASE_TTL = 15.0  # longer than an upstream token request may take (UPSTREAM_TIMEOUT)
WARM_FOR = 5.0  # how long a token read from the store is used without asking it again
WARM_MAX = 10_000  # (session, provider) pairs kept warm, least recently used forgotten first
_POLL = 0.05  # how often a process without the lease looks for the holder's result


class UpstreamLogins(Protocol):
    """What the embedded authorization server offers outgoing auth (``AuthServer`` is one)."""

    @property
    def storage(self) -> Storage: ...

    @property
    def upstreams(self) -> Mapping[str, Upstream]: ...


class UpstreamTokenSource:
    def __init__(
        self,
        logins: Callable[[], UpstreamLogins],
        metrics: Metrics,
        *,
        clock: Callable[[], float] = time.time,
        lease_ttl: float = LEASE_TTL,
    ) -> None:
        self._logins, self._metrics, self._clock, self._lease_ttl = logins, metrics, clock, lease_ttl
        self._flights: dict[tuple[str, str], asyncio.Task[UpstreamTokens]] = {}
        self._warm: OrderedDict[tuple[str, str], tuple[UpstreamTokens, float]] = OrderedDict()

    async def fresh(self, session_id: str, provider: str, margin: float) -> UpstreamTokens:
        """The user's tokens at ``provider``, refreshed first when they expire within ``margin``."""
        key, now = (session_id, provider), self._clock()
        warm = self._warm.get(key)
        if warm is not None and now - warm[1] < WARM_FOR and not warm[0].expiring(margin, now):
            return warm[0]
        tokens = await self._stored(session_id, provider)
        if not tokens.expiring(margin, now):
            self._keep(key, tokens, now)
            return tokens
        flight = self._flights.get(key)
        if flight is None:
            # A task of its own, referenced here until it ends: a client that disconnects cancels
            # its request, never the refresh others wait for (a refresh cut short after the
            # provider rotated the refresh token would lose the new one).
            flight = asyncio.get_running_loop().create_task(
                self._refresh_shared(session_id, provider, margin), name=f"upstream-refresh:{provider}"
            )
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        refreshed = await asyncio.shield(flight)
        self._keep(key, refreshed, self._clock())
        return refreshed

    def _keep(self, key: tuple[str, str], tokens: UpstreamTokens, now: float) -> None:
        self._warm[key] = (tokens, now)
        self._warm.move_to_end(key)
        while len(self._warm) > WARM_MAX:
            self._warm.popitem(last=False)

    def _landed(self, key: tuple[str, str], flight: asyncio.Task[UpstreamTokens]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if not flight.cancelled():
            flight.exception()  # retrieved: a refresh that fails with nobody waiting is no error

    async def close(self) -> None:
        """On shutdown: end the refreshes still running."""
        flights = list(self._flights.values())
        for flight in flights:
            flight.cancel()
        await asyncio.gather(*flights, return_exceptions=True)

    async def _stored(self, session_id: str, provider: str) -> UpstreamTokens:
        try:
            tokens = await self._logins().storage.get_upstream_tokens(session_id, provider, self._clock())
        except StorageError:
            raise UpstreamUnreachable("the session store cannot be reached") from None
        if tokens is None:
            raise ReauthorizationNeeded(f"no login at {provider!r} is kept for this session; authorize again")
        return tokens

    async def _refresh_shared(self, session_id: str, provider: str, margin: float) -> UpstreamTokens:
        """Refresh under the store's lease, or wait for whoever holds it."""
        storage = self._logins().storage
        lease, holder = f"upstream-refresh:{session_id}:{provider}", secrets.token_urlsafe(12)
        deadline = self._clock() + 2 * self._lease_ttl
        try:
            while True:
                now = self._clock()
                if await storage.acquire_lease(lease, holder, now + self._lease_ttl, now):
                    try:
                        return await self._refresh_held(storage, session_id, provider, margin)
                    finally:
                        await storage.release_lease(lease, holder)
                await asyncio.sleep(_POLL)  # another process refreshes: wait for what it stores
                tokens = await self._stored(session_id, provider)
                if not tokens.expiring(margin, self._clock()):
                    return tokens
                if self._clock() > deadline:
                    raise UpstreamUnreachable(f"the refresh at {provider!r} did not finish in time")
        except StorageError:
            raise UpstreamUnreachable("the session store cannot be reached") from None

    async def _refresh_held(
        self, storage: Storage, session_id: str, provider: str, margin: float
    ) -> UpstreamTokens:
        current = await self._stored(session_id, provider)
        if not current.expiring(margin, self._clock()):
            return current  # refreshed by another process just before the lease was ours
        upstream = self._logins().upstreams.get(provider)
        if upstream is None:
            raise ReauthorizationNeeded(f"the upstream {provider!r} is no longer configured")
        try:
            refreshed = await upstream.refresh(current)
        except UpstreamRefused as exc:
            self._metrics.upstream_refreshes.labels(provider, "refused").inc()
            log.info("upstream_refresh_refused", provider=provider, reason=str(exc))
            raise ReauthorizationNeeded(
                f"the login at {provider!r} has ended; authorize again to log in there"
            ) from None
        except UpstreamUnavailable as exc:
            self._metrics.upstream_refreshes.labels(provider, "unavailable").inc()
            log.warning("upstream_refresh_unavailable", provider=provider, reason=str(exc))
            raise UpstreamUnreachable(f"the identity provider {provider!r} cannot be reached") from None
        self._metrics.upstream_refreshes.labels(provider, "ok").inc()
        if await storage.replace_upstream_tokens(session_id, current, refreshed, self._clock()):
            return refreshed
        # Stored meanwhile by someone else (or the session ended): theirs is the one to keep.
        return await self._stored(session_id, provider)
