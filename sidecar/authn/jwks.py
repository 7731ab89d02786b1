# SPDX-License-Identifier: Apache-2.0
"""The HTTP tier of key resolution: a JWK Set fetched from ``jwks_url`` or discovered from the
issuer, cached, refreshed in the background and kept through IdP outages.

- Discovery (OIDC Discovery 1.0 §4, then RFC 8414 §3) is lazy and retried; it never blocks
  start-up. The discovered ``issuer`` must equal the configured one (OIDC Discovery §4.3).
- The set is cached per ``Cache-Control: max-age``, clamped to [refresh_min, refresh_max].
- An unknown ``kid`` triggers one refetch (OIDC Core §10.1.1); concurrent misses share it, and
  forced refetches are at least ``cooldown`` apart, so random kids cannot hammer the IdP.
- The last good set is used for ``max_stale`` after it should have been refreshed.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import structlog

from sidecar.authn.errors import KeysUnavailable
from sidecar.authn.keys import StaticKeyProvider, VerificationKey, parse_jwks
from sidecar.observability.metrics import Metrics
from sidecar.outbound import OutboundClient, OutboundError, OutboundPolicy

log = structlog.get_logger("sidecar.jwks")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d+)", re.IGNORECASE)


def discovery_urls(issuer: str) -> list[str]:
    """OIDC Discovery (appended) first, then RFC 8414 (inserted before the path)."""
    parts = urlsplit(issuer)
    origin, path = f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")
    return [
        f"{origin}{path}/.well-known/openid-configuration",
        f"{origin}/.well-known/oauth-authorization-server{path}",
    ]


def cache_seconds(headers: Mapping[str, str], low: float, high: float) -> float:
    control = headers.get("Cache-Control") or headers.get("cache-control") or ""
    if "no-store" in control or "no-cache" in control:
        return low
    match = _MAX_AGE.search(control)
    return min(max(float(match[1]), low), high) if match else high


class JwksSource:
    def __init__(
        self,
        *,
        client: OutboundClient,
        policy: OutboundPolicy,
        issuer: str,
        jwks_url: str | None,
        refresh_min: float,
        refresh_max: float,
        max_stale: float,
        cooldown: float,
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._policy, self._issuer = client, policy, issuer
        self._jwks_url = jwks_url
        self._discovered = False
        self._refresh_min, self._refresh_max = refresh_min, refresh_max
        self._max_stale, self._cooldown = max_stale, cooldown
        self._metrics, self._clock = metrics, clock
        self._keys: StaticKeyProvider | None = None
        self._fetched_at = self._fresh_until = float("-inf")
        self._last_forced = self._retry_at = float("-inf")
        self._last_ok = True
        self._generation = 0
        self._lock = asyncio.Lock()

    @property
    def ready(self) -> bool:
        """True once a key set is held and not past its stale limit."""
        return self._keys is not None and self._clock() < self._fresh_until + self._max_stale

    async def key_for(self, kid: str | None) -> VerificationKey | None:
        """The key for ``kid``; None when the IdP does not have it; KeysUnavailable when the
        IdP cannot be asked and no usable key set is held."""
        now = self._clock()
        if self._keys is None or now >= self._fresh_until:
            await self._refresh()
        key = self._held(kid)
        if key is None and self._clock() - self._last_forced >= self._cooldown:
            self._last_forced = self._clock()
            await self._refresh(force=True)
            key = self._held(kid)
        if key is None and (not self._last_ok or not self.ready):
            # The key may well exist; we just cannot see the IdP's current set (Envoy #41669).
            retry_after = math.ceil(self._cooldown)
            raise KeysUnavailable("the token's signing keys cannot be fetched right now", retry_after)
        return key

    def _held(self, kid: str | None) -> VerificationKey | None:
        """A key of the held set, unless the set is past its stale limit."""
        return self._keys.key_for(kid) if self._keys is not None and self.ready else None

    async def _refresh(self, *, force: bool = False, background: bool = False) -> None:
        generation = self._generation
        async with self._lock:
            if self._generation != generation:
                return  # a fetch finished while we waited: share its result
            now = self._clock()
            if not force and self._keys is not None and now < self._fresh_until:
                return
            if not (force or background) and now < self._retry_at:
                return  # it failed a moment ago: the background task retries, requests do not wait
            await self._fetch()
            self._generation += 1

    async def _fetch(self) -> None:
        try:
            url = self._jwks_url or await self._discover()
            document, headers = await self._client.get_json(url, self._policy)
            keys, skipped = parse_jwks(document)
        except (OutboundError, ValueError) as exc:
            if self._discovered:
                self._jwks_url, self._discovered = None, False  # discover again next time
            self._last_ok = False
            self._retry_at = self._clock() + self._cooldown
            self._metrics.jwks_fetches.labels("error").inc()
            log.warning("jwks_fetch_failed", error=str(exc), stale_keys_held=self._keys is not None)
            return
        now = self._clock()
        self._keys, self._last_ok, self._fetched_at = keys, True, now
        self._fresh_until = now + cache_seconds(headers, self._refresh_min, self._refresh_max)
        self._metrics.jwks_fetches.labels("ok").inc()
        self._metrics.jwks_keys.set(len(keys))
        if skipped:
            log.info("jwks_keys_skipped", reasons=skipped)

    async def _discover(self) -> str:
        last: OutboundError | None = None
        for url in discovery_urls(self._issuer):
            try:
                document, _headers = await self._client.get_json(url, self._policy)
            except OutboundError as exc:
                last = exc
                continue
            if not isinstance(document, dict) or document.get("issuer") != self._issuer:
                raise OutboundError(f"discovery document at {url} names another issuer")
            jwks_uri = document.get("jwks_uri")
            if not isinstance(jwks_uri, str):
                raise OutboundError(f"discovery document at {url} has no jwks_uri")
            self._jwks_url, self._discovered = jwks_uri, True
            return jwks_uri
        raise last or OutboundError("no discovery document")

    async def run_refresh(self) -> None:
        """Background task: fetch at start (with backoff until it works), then refresh before
        the cached set goes stale."""
        backoff = 0.5
        while True:
            await self._refresh(background=True)
            if self._last_ok:
                backoff = 0.5
                delay = max(self._fresh_until - self._clock(), self._refresh_min)
            else:
                delay, backoff = backoff, min(backoff * 2, 30.0)
            await asyncio.sleep(delay)
