# SPDX-License-Identifier: Apache-2.0
"""Building the authorization server from the settings (fail closed), and the steps of the
authorization flow that tie the pure modules to storage and the upstream."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

import structlog

from sidecar.authserver.authorize import AuthorizationRequest, redirect_with
from sidecar.authserver.errors import InvalidRequest
from sidecar.authserver.grants import Lifespans, TokenService
from sidecar.authserver.keys import OpaqueTokens, SigningKeys, ephemeral_hmac_secret, ephemeral_signing_key
from sidecar.authserver.metadata import CALLBACK_PATH, CONSENT_PATH, LOGIN_PATH
from sidecar.authserver.revocation import Revocations
from sidecar.authserver.upstreams import UpstreamResult
from sidecar.authserver.upstreams.oauth2 import OAuth2Provider
from sidecar.authserver.upstreams.oidc import OidcProvider
from sidecar.authserver.upstreams.static import StaticProvider
from sidecar.config.auth_server import AuthServerSettings, OidcUpstream, StaticUpstream, Upstream
from sidecar.config.schema import Settings
from sidecar.config.secrets import Secrets
from sidecar.config.values import canonical_origin
from sidecar.observability.metrics import Metrics
from sidecar.outbound import OutboundClient
from sidecar.proxy.forwarded import ProxyTrust
from sidecar.storage.factory import open_storage
from sidecar.storage.protocol import NotReplicated, Storage, StorageError, StorageLimits
from sidecar.storage.records import CodeGrant, PendingAuthorization

log = structlog.get_logger("sidecar.authserver")
PENDING_LIFETIME = 600.0  # a user has ten minutes to log in upstream
STORAGE_PROBE_INTERVAL = 5.0
STORAGE_NOT_CHECKED = "storage: not checked yet"
REVOCATION_CHECK_INTERVAL = 5.0  # how late another process's revocation may reach this one
BINDING_COOKIE = "mcp_sidecar_authz"


UpstreamProvider = StaticProvider | OidcProvider | OAuth2Provider


class AuthServerError(Exception):
    """The authorization server cannot be created; start-up stops (never a fall-back to Mode A)."""


@dataclass
class RateLimiter:
    """A fixed-window limit per key (client address), bounded in memory."""

    limit: int
    window: float
    _counts: dict[str, tuple[float, int]] = field(default_factory=dict)

    def allow(self, key: str, now: float) -> bool:
        start, count = self._counts.get(key, (now, 0))
        if now - start >= self.window:
            start, count = now, 0
        if len(self._counts) > 10_000:
            self._counts.clear()
        self._counts[key] = (start, count + 1)
        return count < self.limit


@dataclass
class AuthServer:
    settings: AuthServerSettings
    origin: str
    keys: SigningKeys
    opaque: OpaqueTokens
    storage: Storage
    revocations: Revocations
    tokens: TokenService
    upstream: UpstreamProvider
    outbound: OutboundClient
    metrics: Metrics
    clock: Callable[[], float] = time.time
    trust: ProxyTrust = field(default_factory=lambda: ProxyTrust(()))
    body_timeout: float = 60.0  # server.idle_timeout: how long a request body may take
    registrations: RateLimiter = field(default_factory=lambda: RateLimiter(limit=20, window=60.0))
    # SECURITY: password guessing on the static login page, per client address.
    login_attempts: RateLimiter = field(default_factory=lambda: RateLimiter(limit=20, window=60.0))
    # The /readyz reason, as of the last probe or failed call (until the first probe answers, too).
    storage_problem: str | None = STORAGE_NOT_CHECKED

    def storage_failed(self, error: StorageError) -> None:
        problem = (
            "storage: fewer replicas online than min_replicas_acks"
            if isinstance(error, NotReplicated)
            else "storage: not answering"
        )
        if self.storage_problem != problem:
            log.warning(
                "storage_unavailable", problem=problem, effect="requests that need storage answer 503"
            )
        self.storage_problem = problem

    def not_ready(self) -> str | None:
        """The /readyz reason until the store has answered, and while it does not answer or
        cannot keep writes."""
        return self.storage_problem

    async def probe_storage(self, interval: float = STORAGE_PROBE_INTERVAL) -> None:
        """Ping the store for /readyz, for as long as the server runs."""
        while True:
            try:
                await self.storage.check()
            except StorageError as error:
                self.storage_failed(error)
            else:
                if self.storage_problem not in (None, STORAGE_NOT_CHECKED):
                    log.info("storage_available")
                self.storage_problem = None
            await asyncio.sleep(interval)

    def client_address(self, peer: str | None, forwarded_for: list[str]) -> str:
        """The client's address, through trusted proxies (server.trusted_proxies) only."""
        return self.trust.resolve(peer or "", own_proto="", own_host="", xff=forwarded_for).client_ip

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    async def session_revoked(self, session_id: str) -> bool:
        return await self.revocations.revoked(session_id)

    async def start_pending(
        self, request: AuthorizationRequest, binding: str
    ) -> tuple[PendingAuthorization, str]:
        """Remember the request while the user logs in upstream; returns it with where the user
        goes next: the login page (static upstream), or the consent page, which then sends the
        user to the provider's authorization URL (kept in ``upstream_state["authorization_url"]``).

        SECURITY (MCP security best practices, "Confused Deputy"): a user already signed in at
        the upstream would otherwise be sent through without a click, and any registered client
        could collect a code for them; the consent page names the client and where the code goes.
        """
        pending_id = secrets.token_urlsafe(24)
        await self.storage.touch_client(request.client_id, self.clock())
        remembered: dict[str, str] = {}
        next_url = f"{LOGIN_PATH}?{urlencode({'request': pending_id})}"
        if not isinstance(self.upstream, StaticProvider):
            authorization_url, remembered = await self.upstream.authorization_url(pending_id)
            remembered = {**remembered, "authorization_url": authorization_url}
            next_url = f"{CONSENT_PATH}?{urlencode({'request': pending_id})}"
        pending = PendingAuthorization(
            id=pending_id,
            client_id=request.client_id,
            redirect_uri=request.redirect_uri,
            state=request.state,
            code_challenge=request.code_challenge,
            scopes=request.scopes,
            resource=request.resource,
            upstream=self.upstream.name,
            browser_binding=binding_hash(binding),
            expires_at=self.clock() + PENDING_LIFETIME,
            upstream_state=remembered,
        )
        await self.storage.put_pending(pending)
        return pending, next_url

    async def finish(self, pending: PendingAuthorization, result: UpstreamResult) -> str:
        """Issue the code and return the client redirect (RFC 9207: with ``iss``)."""
        now = self.clock()
        session_id = secrets.token_urlsafe(18)
        if result.tokens is not None:
            await self.storage.put_upstream_tokens(
                session_id, result.tokens, now + self.settings.token_lifespans.refresh_token_lifespan
            )
        code, code_id = self.opaque.mint()
        code_expires_at = now + self.settings.token_lifespans.auth_code_lifespan
        await self.storage.hold_client(pending.client_id, session_id, code_expires_at)
        await self.storage.put_code(
            code_id,
            CodeGrant(
                client_id=pending.client_id,
                redirect_uri=pending.redirect_uri,
                code_challenge=pending.code_challenge,
                scopes=pending.scopes,
                resource=pending.resource,
                user=result.user,
                session_id=session_id,
                expires_at=code_expires_at,
            ),
        )
        self.metrics.authorizations.labels("code_issued").inc()
        return redirect_with(pending.redirect_uri, {"code": code, "state": pending.state, "iss": self.issuer})

    async def pending_for(self, pending_id: str, binding: str | None, *, take: bool) -> PendingAuthorization:
        """The pending request, only for the user agent that started it (RFC 9700 §4.7, CSRF)."""
        now = self.clock()
        pending = await (self.storage.take_pending if take else self.storage.get_pending)(pending_id, now)
        if pending is None:
            raise InvalidRequest("this sign-in has expired or was already used")
        if binding is None or not hmac.compare_digest(binding_hash(binding), pending.browser_binding):
            raise InvalidRequest("this sign-in was started in another browser")
        return pending

    async def close(self) -> None:
        await self.outbound.close()
        await self.storage.close()


def binding_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def build_auth_server(settings: Settings, metrics: Metrics) -> AuthServer:
    """Create the authorization server or raise AuthServerError naming the key path. Keys and
    secrets come from ``settings.secrets``, read by the loader: no file is read here."""
    config = settings.auth_server
    if config is None:
        raise AuthServerError("auth_server: not configured")
    origin = canonical_origin(settings.server.public_url or config.issuer)
    keys = _signing_keys(config, settings.secrets)
    if len(settings.secrets.hmac_secrets) != len(config.hmac_secret_files):
        raise AuthServerError("auth_server.hmac_secret_files: not loaded (use sidecar.config's loader)")
    opaque = OpaqueTokens(settings.secrets.hmac_secrets or [_ephemeral_hmac()])
    outbound = OutboundClient(timeout=10)
    upstream = _upstream(config.upstreams[0], settings.secrets, outbound, origin + CALLBACK_PATH, metrics)
    storage = open_storage(
        config.storage,
        settings.secrets,
        opaque.secrets,
        StorageLimits(max_clients=config.max_clients, client_idle_ttl=config.client_idle_ttl),
        metrics,
    )
    metrics.watch_storage(storage.sizes)
    # Memory storage answers for free; a shared store is asked at most every few seconds per session.
    revocations = Revocations(
        storage, time.time, interval=0.0 if config.storage.type == "memory" else REVOCATION_CHECK_INTERVAL
    )
    lifespans = config.token_lifespans
    tokens = TokenService(
        issuer=config.issuer,
        keys=keys,
        opaque=opaque,
        storage=storage,
        revocations=revocations,
        clock=time.time,
        lifespans=Lifespans(
            lifespans.access_token_lifespan,
            lifespans.refresh_token_lifespan,
            lifespans.auth_code_lifespan,
            refresh_grace=config.refresh_grace_period,
        ),
    )
    log.info(
        "auth_server_created",
        issuer=config.issuer,
        kid=keys.kid,
        upstream=upstream.name,
        storage=config.storage.type,
    )
    return AuthServer(
        config,
        origin,
        keys,
        opaque,
        storage,
        revocations,
        tokens,
        upstream,
        outbound,
        metrics,
        trust=ProxyTrust(settings.server.trusted_proxies),
        body_timeout=settings.server.idle_timeout,
    )


def _upstream(
    config: Upstream, loaded_secrets: Secrets, outbound: OutboundClient, callback: str, metrics: Metrics
) -> UpstreamProvider:
    if isinstance(config, StaticUpstream):
        return StaticProvider(config)
    remote = config.oidc_config if isinstance(config, OidcUpstream) else config.oauth2_config
    secret = loaded_secrets.upstream_secrets[0] if loaded_secrets.upstream_secrets else None
    if secret is None and (remote.client_secret_file is not None or remote.client_secret_env is not None):
        # Fail closed: settings built without the loader would otherwise log in without a secret.
        raise AuthServerError("auth_server.upstreams[0]: the client secret was not loaded")
    if isinstance(config, OidcUpstream):
        return OidcProvider(
            config, client=outbound, client_secret=secret, callback_url=callback, metrics=metrics
        )
    return OAuth2Provider(config, client=outbound, client_secret=secret, callback_url=callback)


def _signing_keys(config: AuthServerSettings, loaded_secrets: Secrets) -> SigningKeys:
    if config.signing_key_config is None:
        log.warning(
            "ephemeral_signing_key",
            why="auth_server.signing_key_config is not set",
            effect="tokens stop validating when this process restarts; set a key file in production",
        )
        return SigningKeys(ephemeral_signing_key())
    loaded = loaded_secrets.signing_key
    if loaded is None or len(loaded_secrets.fallback_keys) != len(
        config.signing_key_config.fallback_key_files
    ):
        # Fail closed: never an ephemeral key in place of a configured one.
        raise AuthServerError("auth_server.signing_key_config: the keys were not loaded")
    return SigningKeys(loaded, loaded_secrets.fallback_keys)


def _ephemeral_hmac() -> bytes:
    log.warning(
        "ephemeral_hmac_secret",
        why="auth_server.hmac_secret_files is not set",
        effect="codes and refresh tokens stop working when this process restarts",
    )
    return ephemeral_hmac_secret()
