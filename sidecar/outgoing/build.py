# SPDX-License-Identifier: Apache-2.0
"""One :class:`OutgoingAuth` per backend, built once from the typed settings, counted."""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.authn.validator import Identity
from sidecar.config.schema import (
    BackendSettings,
    HeaderInjectionOutgoing,
    UnauthenticatedOutgoing,
    UpstreamInjectOutgoing,
)
from sidecar.observability.metrics import Metrics
from sidecar.outgoing.errors import OutgoingFailure
from sidecar.outgoing.protocol import OutgoingAuth
from sidecar.outgoing.static import HeaderInjection, Unauthenticated
from sidecar.outgoing.upstream_inject import UpstreamInject
from sidecar.outgoing.upstream_tokens import UpstreamTokenSource


class OutgoingNotAvailable(Exception):
    """A strategy this process cannot run (start-up fails closed rather than send nothing)."""


def build_outgoing(
    backend: BackendSettings,
    secret: str | None,
    metrics: Metrics,
    *,
    upstream_tokens: UpstreamTokenSource | None = None,
) -> OutgoingAuth:
    """The strategy of ``backend``; ``secret`` is what the loader read for it
    (``Settings.secrets.backend_secrets``); ``upstream_tokens`` exists in Mode B."""
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
        raise OutgoingNotAvailable(
            f"backend {backend.name!r}: outgoing_auth {config.type} is not available in this build"
        )
    return Counted(strategy, metrics)


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

    async def apply(self, identity: Identity | None) -> dict[str, str]:
        try:
            headers = await self.inner.apply(identity)
        except OutgoingFailure as failure:
            self.metrics.outgoing_auth.labels(self.strategy, failure.reason).inc()
            raise
        self.metrics.outgoing_auth.labels(self.strategy, "ok").inc()
        return headers
