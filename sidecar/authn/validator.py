# SPDX-License-Identifier: Apache-2.0
"""Token validation with keys resolved in tiers.

- the verified-token cache is looked at first (a hit costs a hash and two comparisons);
- then the in-process key provider (the embedded authorization server's keys), matched by
  ``kid``: its tokens validate with no HTTP request at all, whatever the issuer URL resolves to;
- then the JWKS over HTTP (or RFC 7662 introspection for opaque tokens).

Discovery and JWKS failures are never fatal while tier 1 can answer (ToolHive #4747).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sidecar.authn import access_token, errors
from sidecar.authn.cache import TokenCache, token_digest
from sidecar.authn.introspection import Introspector
from sidecar.authn.jwks import JwksSource
from sidecar.authn.keys import KeyProvider, VerificationKey
from sidecar.config.schema import OidcSettings


@dataclass(frozen=True, slots=True)
class Identity:
    """Who the request is from, as the token says; what outgoing auth and identity headers use."""

    subject: str | None
    scopes: frozenset[str]
    claims: Mapping[str, Any] = field(repr=False)
    expires_at: float
    source: str  # local | jwks | introspection | cache
    # The validated token itself: only token_exchange uses it (as its subject token), never forwarded.
    token: str | None = field(default=None, repr=False, compare=False)


class TokenValidator:
    def __init__(
        self,
        settings: OidcSettings,
        *,
        local: KeyProvider | None = None,
        jwks: JwksSource | None = None,
        introspector: Introspector | None = None,
        session_revoked: Callable[[str], Awaitable[bool]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._algorithms = frozenset(settings.allowed_algorithms)
        self._local, self._jwks, self._introspector = local, jwks, introspector
        self._cache: TokenCache[Identity] = TokenCache(settings.token_cache_size)
        self._clock = clock
        # The embedded authorization server's revocations (RFC 7009, code replay, refresh reuse)
        # reach its own tokens through their session id claim.
        self._session_revoked = session_revoked

    @property
    def keys_ready(self) -> bool:
        """Readiness: some tier can answer (introspection counts; JWTs then use the JWKS lazily)."""
        return (
            self._local is not None
            or self._introspector is not None
            or self._jwks is None
            or self._jwks.ready
        )

    async def validate(self, token: str, audiences: frozenset[str]) -> Identity:
        now = self._clock()
        if len(token) > self._settings.max_token_bytes:
            raise errors.TooLarge("the token is larger than this server accepts")
        digest = token_digest(token)
        cached = self._cache.get(digest, now)
        if cached is not None:
            # Held as the "cache" identity it is returned as (immutable, so shared by requests).
            access_token.check_audience(cached.claims, audiences)
            if self._session_revoked is not None:
                await self._check_session(self._session_revoked, cached)
            return cached
        if not access_token.looks_like_jwt(token) and self._introspector is not None:
            identity = await self._introspect(token, audiences, now)
        else:
            identity = await self._verify_jwt(token, audiences, now)
        if self._session_revoked is not None:
            await self._check_session(self._session_revoked, identity)
        # Never past exp: the cache drops the entry at exp + skew, the same bound the check used.
        expiry = identity.expires_at + self._settings.clock_skew
        self._cache.put(digest, dataclasses.replace(identity, source="cache"), expiry)
        return identity

    @staticmethod
    async def _check_session(revoked: Callable[[str], Awaitable[bool]], identity: Identity) -> None:
        session = identity.claims.get("tsid")
        if isinstance(session, str) and await revoked(session):
            raise errors.Revoked("the token's session was revoked")

    async def _verify_jwt(self, token: str, audiences: frozenset[str], now: float) -> Identity:
        parsed = access_token.parse(token, self._settings.max_token_bytes)
        alg, kid = access_token.check_header(parsed.header, self._algorithms)
        key, source = await self._resolve_key(kid)
        if not key.fits(alg):
            raise errors.KeyMismatch("the token's algorithm does not fit its key")
        access_token.verify_signature(token, key.key, alg)
        return self._check_claims(parsed.claims, audiences, now, source)

    async def _resolve_key(self, kid: str | None) -> tuple[VerificationKey, str]:
        if self._local is not None and (key := self._local.key_for(kid)) is not None:
            return key, "local"
        if self._jwks is not None and (key := await self._jwks.key_for(kid)) is not None:
            return key, "jwks"
        raise errors.UnknownKey("the token's signing key is not known")

    async def _introspect(self, token: str, audiences: frozenset[str], now: float) -> Identity:
        assert self._introspector is not None  # noqa: S101 - checked by the caller
        claims = await self._introspector.introspect(token)
        if "exp" not in claims:
            # RFC 7662 makes exp optional; without it the answer is trusted for a minute only.
            claims = {**claims, "exp": now + 60}
        return self._check_claims(claims, audiences, now, "introspection")

    def _check_claims(
        self, claims: Mapping[str, Any], audiences: frozenset[str], now: float, source: str
    ) -> Identity:
        settings = self._settings
        if source != "introspection" or "iss" in claims:
            access_token.check_issuer(claims, settings.issuer)
        access_token.check_audience(claims, audiences)
        exp = access_token.check_times(claims, now, settings.clock_skew, settings.max_token_lifetime)
        subject = claims.get("sub")
        return Identity(
            subject=subject if isinstance(subject, str) else None,
            scopes=access_token.scopes_of(claims),
            claims=claims,
            expires_at=exp,
            source=source,
        )
