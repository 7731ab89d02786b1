# SPDX-License-Identifier: Apache-2.0
"""``upstream_inject``: ``Authorization: Bearer <the user's access token at an upstream>``."""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.authn.validator import Identity
from sidecar.outgoing.errors import ReauthorizationNeeded
from sidecar.outgoing.upstream_tokens import UpstreamTokenSource

_AUTHORIZATION = frozenset({"authorization"})


def session_of(identity: Identity | None) -> str:
    """The sidecar session of the embedded server's token (its ``tsid`` claim), which the
    user's upstream tokens are kept under."""
    session = identity.claims.get("tsid") if identity is not None else None
    if not isinstance(session, str) or not session:
        raise ReauthorizationNeeded("this token carries no sign-in session of this server; authorize again")
    return session


@dataclass(frozen=True, slots=True)
class UpstreamInject:
    provider: str
    margin: float
    tokens: UpstreamTokenSource
    strategy = "upstream_inject"
    header_names = _AUTHORIZATION
    uses_token = False

    async def apply(self, identity: Identity | None) -> dict[str, str]:
        tokens = await self.tokens.fresh(session_of(identity), self.provider, self.margin)
        return {"Authorization": f"Bearer {tokens.access_token}"}
