# SPDX-License-Identifier: Apache-2.0
"""Is this session revoked? Asked by the token validator on every MCP request that carries one
of our tokens, so it must not cost a storage round trip each time.

Answers come from the store at most once per ``interval`` per session (0 with memory storage:
always asked, it is free). A session revoked in this process is known at once; one revoked by
another worker or replica, within ``interval``. A revoked session stays revoked in the cache.

SECURITY trade-off: when the store cannot answer, the last answer is kept and a session never
seen before counts as not revoked, so MCP traffic with valid tokens goes on through a storage
outage (the tokens' signatures and lifetimes are still checked; revocation is the part that
waits for the store). Everything that changes state (tokens, logins) answers 503 meanwhile.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import structlog

from sidecar.storage.protocol import Storage, StorageError

log = structlog.get_logger("sidecar.authserver")


class Revocations:
    def __init__(
        self, storage: Storage, clock: Callable[[], float], *, interval: float, max_entries: int = 100_000
    ) -> None:
        self._storage, self._clock, self._interval, self._max = storage, clock, interval, max_entries
        self._known: OrderedDict[str, tuple[bool, float]] = OrderedDict()  # session -> (revoked, asked at)

    async def revoke(self, session_id: str, until: float) -> None:
        await self._storage.revoke_session(session_id, until)
        self.revoked_here(session_id)

    def revoked_here(self, session_id: str) -> None:
        """The store revoked it on this process's request (a reused refresh token)."""
        self._remember(session_id, True, self._clock())

    async def revoked(self, session_id: str) -> bool:
        now = self._clock()
        known = self._known.get(session_id)
        if known is not None and (known[0] or now - known[1] < self._interval):
            return known[0]
        try:
            revoked = await self._storage.session_revoked(session_id, now)
        except StorageError:
            log.warning("revocation_check_unavailable", effect="the last known answer is used")
            return known[0] if known is not None else False
        if self._interval > 0 or revoked:
            self._remember(session_id, revoked, now)
        return revoked

    def _remember(self, session_id: str, revoked: bool, now: float) -> None:
        self._known[session_id] = (revoked, now)
        self._known.move_to_end(session_id)
        while len(self._known) > self._max:
            self._known.popitem(last=False)
