# SPDX-License-Identifier: Apache-2.0
"""One :class:`OutgoingAuth` per backend, built once from the typed settings, counted."""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.authn.validator import Identity
from sidecar.config.auth_server import AuthServerSettings
from sidecar.config.rules_outgoing import exchange_subject_provider
from sidecar.config.schema import (
    BackendSettings,
    HeaderInjectionOutgoing,
    TokenExchangeOutgoing,
    UnauthenticatedOutgoing,
    UpstreamInjectOutgoing,
)
from sidecar.observability.metrics import Metrics
from sidecar.outbound import OutboundClient, OutboundPolicy
from sidecar.outgoing.errors import OutgoingFailure
from sidecar.outgoing.protocol import OutgoingAuth
from sidecar.outgoing.static import HeaderInjection, Unauthenticated
from sidecar.outgoing.token_exchange import ExchangeSettings, TokenExchange
from sidecar.outgoing.upstream_inject import UpstreamInject
from sidecar.outgoing.upstream_tokens import UpstreamTokenSource


class OutgoingNotAvailable(Exception):
    """A strategy this process cannot run (start-up fails closed rather than send nothing)."""


def build_outgoing(
    backend: BackendSettings,
    secret: str | None,
    metrics: Metrics,
    *,
    auth_server: AuthServerSettings | None = None,
    upstream_tokens: UpstreamTokenSource | None = None,
    outbound: OutboundClient | None = None,
) -> OutgoingAuth:
    """The strategy of ``backend``; ``secret`` is what the loader read for it
    (``Settings.secrets.backend_secrets``); ``upstream_tokens`` exists in Mode B; ``outbound``
    calls token-exchange endpoints (see ``needs_outbound``)."""
    config = backend.outgoing_auth
    strategy: OutgoingAuth
    if isinstance(config, UnauthenticatedOutgoing):
        return Unauthenticated()  # nothing to count
    if isinstance(config, HeaderInjectionOutgoing):
        if secret is None:  # the loader refused the configuration already
            raise OutgoingNotAvailable(f"backends: {backend.name!r} has no header_injection value")
        strategy = HeaderInjection(config.header_name, secret)
    elif isinstance(config, UpstreamInjectOutgoing):
        if upstream_tokens is None:  # V-01 refused it already
            raise OutgoingNotAvailable(f"backend {backend.name!r}: upstream_inject needs auth_server")
        strategy = UpstreamInject(config.provider_name, config.refresh_margin, upstream_tokens)
    else:
        if secret is None or outbound is None:  # the loader refused the configuration already
            raise OutgoingNotAvailable(f"backend {backend.name!r}: token_exchange has no client secret")
        settings = ExchangeSettings(
            backend=backend.name,
            token_url=config.token_url,
            client_id=config.client_id,
            client_secret=secret,
            audience=config.audience,
            scopes=config.scopes,
            subject_token_type=config.subject_token_type,
            subject_provider=exchange_subject_provider(config, auth_server),
            policy=OutboundPolicy(
                allow_http=config.insecure_allow_http, allow_private=config.allow_private_ip
            ),
        )
        strategy = TokenExchange(settings, outbound, upstream_tokens)
    return Counted(strategy, metrics)


def needs_outbound(backends: tuple[BackendSettings, ...]) -> bool:
    """Whether a backend calls an endpoint of its own (token exchange)."""
    return any(isinstance(backend.outgoing_auth, TokenExchangeOutgoing) for backend in backends)


@dataclass(frozen=True, slots=True)
class Counted:
    """A strategy whose every use is counted by result (``ok`` or the failure's reason)."""

    inner: OutgoingAuth
    metrics: Metrics

    @property
    def strategy(self) -> str:
        return self.inner.strategy

    @property
    def header_names(self) -> frozenset[str]:
        return self.inner.header_names

    @property
    def uses_token(self) -> bool:
        return self.inner.uses_token

    async def apply(self, identity: Identity | None) -> dict[str, str]:
        try:
            headers = await self.inner.apply(identity)
        except OutgoingFailure as failure:
            self.metrics.count_outgoing(self.strategy, failure.reason)
            raise
        self.metrics.count_outgoing(self.strategy, "ok")
        return headers
