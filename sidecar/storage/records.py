# SPDX-License-Identifier: Apache-2.0
"""The values the authorization server stores, as frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Client:
    """A registered client (RFC 7591)."""

    client_id: str
    redirect_uris: tuple[str, ...]
    token_endpoint_auth_method: str  # none | client_secret_basic | client_secret_post
    secret_hash: str | None  # SHA-256 of a 256-bit random secret, hex
    grant_types: tuple[str, ...]
    application_type: str  # native | web
    client_name: str | None
    scope: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class UserInfo:
    """Who logged in, as the upstream identity provider said."""

    user_id: str  # the stable internal subject, never the upstream's
    provider: str
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """An authorization request waiting for the user to log in upstream."""

    id: str
    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str
    scopes: tuple[str, ...]
    resource: str
    upstream: str
    browser_binding: str  # SHA-256 of the cookie that ties the login to this user agent
    expires_at: float
    upstream_state: dict[str, str] = field(default_factory=dict)  # PKCE verifier, nonce of the upstream leg
    # Chained upstreams: the position of this leg in auth_server.upstreams, and what the legs
    # before it established: the sign-in session (their tokens are kept under it) and the user
    # (also who logged in while the consent page waits for the user's decision, static upstream).
    leg: int = 0
    session_id: str | None = None
    user: UserInfo | None = None
    nonce: str | None = None  # OpenID Connect: the client's, echoed in its ID token


@dataclass(frozen=True, slots=True)
class CodeGrant:
    """What an authorization code stands for (single use, short-lived)."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    scopes: tuple[str, ...]
    resource: str
    user: UserInfo
    session_id: str
    expires_at: float
    nonce: str | None = None  # OpenID Connect Core §3.1.2.1, for the ID token
    auth_time: float | None = None  # when the user authenticated (the login finished)


@dataclass(frozen=True, slots=True)
class RefreshRecord:
    """One refresh token of a family (one family per login; RFC 9700 §4.14 rotation)."""

    id: str
    session_id: str
    client_id: str
    scopes: tuple[str, ...]
    resource: str
    user: UserInfo
    family_expires_at: float


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    """What a token request was answered with. A refresh keeps it for the grace window, so a
    repeat of the same refresh token (a second tab, a retry after a lost response) is answered
    with the same pair."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    scope: str
    expires_in: int  # of the access token, counted from issued_at
    issued_at: float


@dataclass(frozen=True, slots=True)
class UpstreamTokens:
    """The user's tokens at the upstream identity provider, for the backends."""

    provider: str
    access_token: str = field(repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    claims: dict[str, Any] = field(default_factory=dict, repr=False)
    issued_at: float | None = None  # when the access token was received (its lifetime, for refresh)

    def expiring(self, margin: float, now: float) -> bool:
        """Whether the access token expires within ``margin``; for a token that lives less than
        twice the margin, within half its lifetime (a 5 s token is not renewed on every use).
        A token without a known lifetime never counts as expiring."""
        if self.expires_at is None:
            return False
        if self.issued_at is not None:
            margin = min(margin, (self.expires_at - self.issued_at) / 2)
        return self.expires_at - margin <= now
