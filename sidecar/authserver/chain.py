# SPDX-License-Identifier: Apache-2.0
"""Chained upstreams: one authorization walks the user through every ``auth_server.upstreams``
entry in order, so that backends get a token from each (``upstream_inject``,
``token_exchange``).

- Each leg is an authorization of its own at its provider: its own pending record (whose id is
  the ``state`` sent upstream), PKCE verifier and nonce. Consent is asked once, before the first.
- The user is who the first leg says; later legs only add tokens.
- A leg whose tokens kept for this user are still valid is skipped: on a completed chain, each
  leg's tokens are also kept under the user (``user_key``), and a later authorization copies
  them into its new session instead of sending the user there again.
- A leg that fails ends the authorization with an error naming the upstream (at the client's
  redirect URI, trusted since /authorize checked it); what the earlier legs stored is revoked
  with the session that was never issued.
"""

from __future__ import annotations

from collections.abc import Sequence

from sidecar.authserver.errors import OAuthError
from sidecar.config.auth_server import Upstream as UpstreamConfig
from sidecar.storage.protocol import Storage
from sidecar.storage.records import UpstreamTokens

REUSE_MARGIN = 60.0  # seconds: kept tokens closer to their expiry than this are not reused


class LegFailed(Exception):
    """A leg of the chain could not start or finish; names its upstream."""

    def __init__(self, upstream: str, error: OAuthError) -> None:
        super().__init__(error.description)
        self.upstream, self.error = upstream, error

    def body(self) -> dict[str, str]:
        description = f"the sign-in at upstream {self.upstream!r} failed: {self.error.description}"
        return {"error": self.error.error, "error_description": description}


def user_key(user_id: str) -> str:
    """Where a user's tokens from a completed chain are kept (beside the per-session ones)."""
    return f"user:{user_id}"


def chain_names(upstreams: Sequence[UpstreamConfig]) -> tuple[str, ...]:
    return tuple(upstream.name for upstream in upstreams)


async def reusable(storage: Storage, user_id: str, provider: str, now: float) -> UpstreamTokens | None:
    """The user's kept tokens at ``provider`` while they are still good for a while."""
    kept = await storage.get_upstream_tokens(user_key(user_id), provider, now)
    return kept if kept is not None and not kept.expiring(REUSE_MARGIN, now) else None


async def keep_for_user(
    storage: Storage, session_id: str, user_id: str, names: Sequence[str], *, now: float, until: float
) -> None:
    """A completed chain: its tokens are kept under the user too, for the next one to skip legs."""
    for name in names:
        tokens = await storage.get_upstream_tokens(session_id, name, now)
        if tokens is not None:
            await storage.put_upstream_tokens(user_key(user_id), tokens, until)
