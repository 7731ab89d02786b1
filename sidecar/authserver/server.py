# SPDX-License-Identifier: Apache-2.0
"""Building the authorization server from the settings (fail closed), and the ``AuthServer``
aggregate the web layer and the token validator use: keys, storage, token service, the browser
flow, and the store's health."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import structlog

from sidecar.authserver.cimd import ClientDocuments
from sidecar.authserver.errors import AuthServerError
from sidecar.authserver.flow import AuthorizationFlow
from sidecar.authserver.grants import Lifespans, TokenService
from sidecar.authserver.keys import OpaqueTokens, SigningKeys, ephemeral_hmac_secret, ephemeral_signing_key
from sidecar.authserver.metadata import CALLBACK_PATH
from sidecar.authserver.policy import (
    LOGIN_ATTEMPT_LIMIT,
    LOGIN_ATTEMPT_WINDOW,
    REGISTRATION_LIMIT,
    REGISTRATION_WINDOW,
    REVOCATION_CHECK_INTERVAL,
    STORAGE_PROBE_INTERVAL,
    UPSTREAM_TIMEOUT,
)
from sidecar.authserver.rate_limit import RateLimiter
from sidecar.authserver.revocation import Revocations
from sidecar.authserver.upstreams.protocol import Upstream
from sidecar.authserver.upstreams.registry import build_upstreams, client_secrets, upstream_type
from sidecar.config.auth_server import AuthServerSettings
from sidecar.config.schema import Settings
from sidecar.config.secrets import Secrets
from sidecar.config.values import canonical_origin
from sidecar.observability.metrics import Metrics
from sidecar.outbound import OutboundClient
from sidecar.proxy.forwarded import ProxyTrust
from sidecar.storage.factory import open_storage
from sidecar.storage.protocol import NotReplicated, Storage, StorageError, StorageLimits

log = structlog.get_logger("sidecar.authserver")
STORAGE_NOT_CHECKED = "storage: not checked yet"
__all__ = [
    "AuthServer",
    "AuthServerError",
    "AuthServerPlan",
    "open_auth_server",
    "plan_auth_server",
]  # AuthServerError: cli and tests


@dataclass
class AuthServer:
    """The opened authorization server: what the routes and the token validator use."""

    settings: AuthServerSettings
    origin: str
    keys: SigningKeys
    opaque: OpaqueTokens
    storage: Storage
    revocations: Revocations
    tokens: TokenService
    flow: AuthorizationFlow
    outbound: OutboundClient
    metrics: Metrics
    clock: Callable[[], float] = time.time
    trust: ProxyTrust = field(default_factory=lambda: ProxyTrust(()))
    body_timeout: float = 60.0  # server.idle_timeout: how long a request body may take
    registrations: RateLimiter = field(
        default_factory=lambda: RateLimiter(REGISTRATION_LIMIT, REGISTRATION_WINDOW)
    )
    initial_access_token: str | None = None  # auth_server.dcr.initial_access_token_file
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

    @property
    def upstreams(self) -> Mapping[str, Upstream]:
        """The upstream registry by name (``UpstreamTokens.provider`` names one, for refresh)."""
        return self.flow.upstreams

    async def session_revoked(self, session_id: str) -> bool:
        return await self.revocations.revoked(session_id)


@dataclass(frozen=True, slots=True)
class AuthServerPlan:
    """The authorization server with every setting checked and nothing opened: made in
    ``create_app``, so a broken configuration stops start-up before anything listens; opened by
    ``open_auth_server`` in the app's cleanup context."""

    settings: Settings
    config: AuthServerSettings
    origin: str
    keys: SigningKeys
    opaque: OpaqueTokens
    client_secrets: tuple[str | None, ...]  # per upstream, lined up with config.upstreams
    metrics: Metrics

    @property
    def issuer(self) -> str:
        return self.config.issuer

    def uses(self, kind: Literal["form", "redirect"]) -> bool:
        """Whether any upstream logs in this way (which routes exist)."""
        return any(
            upstream_type(upstream, f"auth_server.upstreams[{index}]").kind == kind
            for index, upstream in enumerate(self.config.upstreams)
        )


def plan_auth_server(settings: Settings, metrics: Metrics) -> AuthServerPlan:
    """Check everything the authorization server needs, or raise AuthServerError naming the key
    path. Keys and secrets come from ``settings.secrets``, read by the loader: no file is read here."""
    config = settings.auth_server
    if config is None:
        raise AuthServerError("auth_server: not configured")
    keys = _signing_keys(config, settings.secrets)
    if len(settings.secrets.hmac_secrets) != len(config.hmac_secret_files):
        raise AuthServerError("auth_server.hmac_secret_files: not loaded (use sidecar.config's loader)")
    if config.dcr.initial_access_token_file is not None and settings.secrets.initial_access_token is None:
        # Fail closed: never an open registration in place of a gated one.
        raise AuthServerError(
            "auth_server.dcr.initial_access_token_file: not loaded (use sidecar.config's loader)"
        )
    opaque = OpaqueTokens(settings.secrets.hmac_secrets or [_ephemeral_hmac()])
    return AuthServerPlan(
        settings,
        config,
        canonical_origin(settings.server.public_url or config.issuer),
        keys,
        opaque,
        client_secrets(config.upstreams, settings.secrets.upstream_secrets),
        metrics,
    )


@asynccontextmanager
async def open_auth_server(plan: AuthServerPlan) -> AsyncIterator[AuthServer]:
    """Open what does I/O (the outbound client, the store), build the rest over them, and close
    both on the way out. A store that must be awaited at start-up is awaited here."""
    outbound = OutboundClient(timeout=UPSTREAM_TIMEOUT)
    try:
        config = plan.config
        storage = open_storage(
            config.storage,
            plan.settings.secrets,
            plan.opaque.secrets,
            StorageLimits(max_clients=config.max_clients, client_idle_ttl=config.client_idle_ttl),
            plan.metrics,
        )
        try:
            yield _assemble(plan, outbound, storage)
        finally:
            await storage.close()
    finally:
        await outbound.close()


def _assemble(plan: AuthServerPlan, outbound: OutboundClient, storage: Storage) -> AuthServer:
    config, metrics = plan.config, plan.metrics
    metrics.watch_storage(storage.sizes)
    upstreams = build_upstreams(
        config.upstreams,
        plan.client_secrets,
        outbound=outbound,
        callback_url=plan.origin + CALLBACK_PATH,
        metrics=metrics,
    )
    # Memory storage answers for free; a shared store is asked at most every few seconds per session.
    revocations = Revocations(
        storage, time.time, interval=0.0 if config.storage.type == "memory" else REVOCATION_CHECK_INTERVAL
    )
    lifespans = config.token_lifespans
    documents = (
        ClientDocuments(config.cimd, outbound, config.scopes_supported, time.time)
        if config.cimd.enabled
        else None
    )
    tokens = TokenService(
        issuer=config.issuer,
        keys=plan.keys,
        opaque=plan.opaque,
        storage=storage,
        revocations=revocations,
        clock=time.time,
        lifespans=Lifespans(
            lifespans.access_token_lifespan,
            lifespans.refresh_token_lifespan,
            lifespans.auth_code_lifespan,
            refresh_grace=config.refresh_grace_period,
        ),
        documents=documents,
    )
    log.info(
        "auth_server_created",
        issuer=config.issuer,
        kid=plan.keys.kid,
        upstreams=list(upstreams),
        storage=config.storage.type,
    )
    return AuthServer(
        config,
        plan.origin,
        plan.keys,
        plan.opaque,
        storage,
        revocations,
        tokens,
        AuthorizationFlow(
            config,
            storage,
            plan.opaque,
            upstreams,
            config.upstreams[0].name,
            metrics,
            time.time,
            # Counted in the store: with Redis the limits hold across workers and replicas.
            RateLimiter(LOGIN_ATTEMPT_LIMIT, LOGIN_ATTEMPT_WINDOW, storage, "login"),
            documents=documents,
        ),
        outbound,
        metrics,
        trust=ProxyTrust(plan.settings.server.trusted_proxies),
        body_timeout=plan.settings.server.idle_timeout,
        registrations=RateLimiter(REGISTRATION_LIMIT, REGISTRATION_WINDOW, storage, "register"),
        initial_access_token=plan.settings.secrets.initial_access_token,
    )


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
