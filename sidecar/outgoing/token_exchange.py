# SPDX-License-Identifier: Apache-2.0
"""``token_exchange``: RFC 8693 OAuth 2.0 Token Exchange at ``token_url``, per user, cached.

The subject token is the user's access token at a named upstream (``subject_provider``, kept by
the embedded authorization server and refreshed like ``upstream_inject``'s), or else the
validated incoming token. The sidecar authenticates as a confidential client (HTTP Basic,
RFC 6749 §2.3.1). The token issued is sent as ``Authorization: Bearer`` and cached per user
until shortly before its ``expires_in``.

Building the request and reading the answer do no I/O (``exchange_form``, ``read_answer``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from sidecar.authn.cache import TokenCache, token_digest
from sidecar.authn.validator import Identity
from sidecar.outbound import (
    OutboundClient,
    OutboundError,
    OutboundPolicy,
    OutboundRefused,
    client_secret_basic,
)
from sidecar.outgoing.errors import ExchangeRefused, ReauthorizationNeeded, UpstreamUnreachable
from sidecar.outgoing.upstream_inject import session_of
from sidecar.outgoing.upstream_tokens import UpstreamTokenSource

log = structlog.get_logger("sidecar.outgoing")

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693 §2.1
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105 - RFC 8693 §3, a URN
_CACHE_SIZE = 10_000
_EARLY = 10.0  # seconds: a cached token is not used this close to its expiry
_SUBJECT_MARGIN = 30.0  # an upstream subject token is refreshed when it expires within this
_DESCRIPTION_LIMIT = 200  # of the endpoint's error_description, in the log


@dataclass(frozen=True, slots=True)
class ExchangeSettings:
    """What the configuration says (``backends[].outgoing_auth`` of type ``token_exchange``)."""

    backend: str
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    audience: str | None
    scopes: tuple[str, ...]
    subject_token_type: str
    subject_provider: str | None
    policy: OutboundPolicy


@dataclass(frozen=True, slots=True)
class Exchanged:
    access_token: str = field(repr=False)
    expires_at: float | None


def exchange_form(settings: ExchangeSettings, subject_token: str) -> dict[str, str]:
    """The token request (RFC 8693 §2.1); the client authenticates with HTTP Basic."""
    form = {
        "grant_type": GRANT_TYPE,
        "subject_token": subject_token,
        "subject_token_type": settings.subject_token_type,
        "requested_token_type": ACCESS_TOKEN_TYPE,
    }
    if settings.audience is not None:
        form["audience"] = settings.audience
    if settings.scopes:
        form["scope"] = " ".join(settings.scopes)
    return form


def read_answer(backend: str, status: int, document: Any, now: float) -> Exchanged:
    """The token of a successful answer (RFC 8693 §2.2.1), or ``ExchangeRefused`` naming the
    RFC 6749 §5.2 error (logged with its description, never with a token)."""
    body: Mapping[str, Any] = document if isinstance(document, dict) else {}
    if status != 200:
        error = body.get("error") if isinstance(body.get("error"), str) else "no error code"
        description = body.get("error_description")
        log.warning(
            "token_exchange_refused",
            backend=backend,
            status=status,
            error=error,
            error_description=description[:_DESCRIPTION_LIMIT] if isinstance(description, str) else None,
        )
        raise ExchangeRefused(f"the token exchange for backend {backend!r} was refused: {error}")
    token, token_type = body.get("access_token"), body.get("token_type")
    if not isinstance(token, str) or not token:
        raise ExchangeRefused(f"the token exchange for backend {backend!r} answered without access_token")
    # §2.2.1: N_A when the issued token is not an access token; it cannot be sent as Bearer.
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ExchangeRefused(f"the token exchange for backend {backend!r} issued no Bearer token")
    expires_in = body.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
        return Exchanged(token, None)
    return Exchanged(token, now + expires_in)


class TokenExchange:
    """The strategy; results cached per user (subject and sidecar session)."""

    strategy = "token_exchange"
    header_names = frozenset({"authorization"})
    uses_token = True  # the subject token, when no upstream provider is configured

    def __init__(
        self,
        settings: ExchangeSettings,
        client: OutboundClient,
        upstream_tokens: UpstreamTokenSource | None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings, self._client, self._upstream_tokens, self._clock = (
            settings,
            client,
            upstream_tokens,
            clock,
        )
        self._cache: TokenCache[str] = TokenCache(_CACHE_SIZE)

    async def apply(self, identity: Identity | None) -> dict[str, str]:
        if identity is None:  # refused at load (V-03): kept as a guard
            raise ReauthorizationNeeded("token exchange needs an authenticated user")
        user = token_digest(f"{identity.subject}\0{identity.claims.get('tsid', '')}")
        cached = self._cache.get(user, self._clock())
        if cached is not None:
            return {"Authorization": f"Bearer {cached}"}
        exchanged = await self._exchange(await self._subject_token(identity))
        if exchanged.expires_at is not None:  # without expires_in, nothing says how long it lives
            self._cache.put(user, exchanged.access_token, exchanged.expires_at - _EARLY)
        return {"Authorization": f"Bearer {exchanged.access_token}"}

    async def _subject_token(self, identity: Identity) -> str:
        provider = self._settings.subject_provider
        if provider is None:
            if identity.token is None:
                raise ReauthorizationNeeded("no token was presented")
            return identity.token
        if self._upstream_tokens is None:
            raise ReauthorizationNeeded("no upstream login is kept without the authorization server")
        tokens = await self._upstream_tokens.fresh(session_of(identity), provider, _SUBJECT_MARGIN)
        return tokens.access_token

    async def _exchange(self, subject_token: str) -> Exchanged:
        settings = self._settings
        try:
            status, document = await self._client.post_form_answer(
                settings.token_url,
                settings.policy,
                exchange_form(settings, subject_token),
                client_secret_basic(settings.client_id, settings.client_secret),
            )
        except OutboundRefused as exc:
            raise ExchangeRefused(f"the token exchange endpoint is not allowed: {exc}") from None
        except OutboundError as exc:
            log.warning("token_exchange_unavailable", backend=settings.backend, error=str(exc))
            raise UpstreamUnreachable(
                f"the token exchange endpoint of backend {settings.backend!r} cannot be reached"
            ) from None
        return read_answer(settings.backend, status, document, self._clock())
