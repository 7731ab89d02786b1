# SPDX-License-Identifier: Apache-2.0
"""The storage protocol. Every method is one atomic step, so a Redis implementation can map
each single-use operation (codes, refresh rotation) onto one command or script."""

from __future__ import annotations

import enum
from typing import Protocol

from sidecar.storage.records import Client, CodeGrant, PendingAuthorization, RefreshRecord, UpstreamTokens


class StorageError(Exception):
    """The store cannot answer (answered with 503, never with 401)."""


class RefreshUse(enum.Enum):
    OK = "ok"  # current token of its family: now consumed
    REUSED = "reused"  # already rotated away: the whole family has been revoked
    UNKNOWN = "unknown"  # never issued, expired, or its family was revoked


class Storage(Protocol):
    async def add_client(self, client: Client, max_clients: int) -> bool:
        """Store a client; False when the registry is full of clients in use."""
        ...

    async def mark_client_used(self, client_id: str) -> None:
        """The client obtained tokens: it is never evicted to make room for new ones."""
        ...

    async def get_client(self, client_id: str) -> Client | None: ...

    async def put_pending(self, pending: PendingAuthorization) -> None: ...

    async def get_pending(self, pending_id: str, now: float) -> PendingAuthorization | None: ...

    async def take_pending(self, pending_id: str, now: float) -> PendingAuthorization | None:
        """Remove and return it (single use)."""
        ...

    async def put_code(self, code_id: str, grant: CodeGrant) -> None: ...

    async def consume_code(self, code_id: str, now: float) -> tuple[CodeGrant | None, bool]:
        """``(grant, replayed)``: the grant on first use; ``(grant, True)`` on any later use."""
        ...

    async def put_refresh(self, record: RefreshRecord) -> None:
        """Store a refresh token and make it the current one of its family."""
        ...

    async def use_refresh(self, token_id: str, now: float) -> tuple[RefreshRecord | None, RefreshUse]:
        """Consume the current token of a family; a reused old token revokes the family."""
        ...

    async def get_refresh(self, token_id: str, now: float) -> RefreshRecord | None:
        """Look a refresh token up without using it (revocation)."""
        ...

    async def revoke_session(self, session_id: str, until: float) -> None:
        """Revoke a login session: its refresh family, every access token carrying its id, and
        the upstream tokens kept for it."""
        ...

    async def session_revoked(self, session_id: str, now: float) -> bool: ...

    async def put_upstream_tokens(self, session_id: str, tokens: UpstreamTokens, until: float) -> None: ...

    async def get_upstream_tokens(
        self, session_id: str, provider: str, now: float
    ) -> UpstreamTokens | None: ...

    async def close(self) -> None: ...
