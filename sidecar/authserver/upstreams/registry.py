# SPDX-License-Identifier: Apache-2.0
"""The configured upstreams, built by a factory per config ``type`` and found by ``name``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sidecar.authserver.errors import AuthServerError
from sidecar.authserver.upstreams.oauth2 import OAuth2Provider
from sidecar.authserver.upstreams.oidc import OidcProvider
from sidecar.authserver.upstreams.protocol import Upstream
from sidecar.authserver.upstreams.static import StaticProvider
from sidecar.config.auth_server import (
    OAuth2Upstream,
    OAuth2UpstreamConfig,
    OidcUpstream,
    OidcUpstreamConfig,
    StaticUpstream,
)
from sidecar.config.auth_server import Upstream as UpstreamConfig
from sidecar.observability.metrics import Metrics
from sidecar.outbound import OutboundClient


@dataclass(frozen=True, slots=True)
class UpstreamContext:
    """What a factory may use besides the upstream's own config section."""

    outbound: OutboundClient
    callback_url: str
    metrics: Metrics
    client_secret: str | None  # loaded by the config loader; None when none is configured
    where: str  # the key path of the upstream, for errors


def _client_secret(
    section: OidcUpstreamConfig | OAuth2UpstreamConfig, context: UpstreamContext
) -> str | None:
    if context.client_secret is None and (
        section.client_secret_file is not None or section.client_secret_env is not None
    ):
        # Fail closed: settings built without the loader would otherwise log in without a secret.
        raise AuthServerError(f"{context.where}: the client secret was not loaded")
    return context.client_secret


def _static(config: StaticUpstream, _context: UpstreamContext) -> Upstream:
    return StaticProvider(config)


def _oidc(config: OidcUpstream, context: UpstreamContext) -> Upstream:
    return OidcProvider(
        config,
        client=context.outbound,
        client_secret=_client_secret(config.oidc_config, context),
        callback_url=context.callback_url,
        metrics=context.metrics,
    )


def _oauth2(config: OAuth2Upstream, context: UpstreamContext) -> Upstream:
    return OAuth2Provider(
        config,
        client=context.outbound,
        client_secret=_client_secret(config.oauth2_config, context),
        callback_url=context.callback_url,
    )


# Keyed by the config's ``type``, which the loader used to pick the dataclass: each factory gets
# its own kind of section (hence Any in the table's type).
FACTORIES: Mapping[str, Callable[[Any, UpstreamContext], Upstream]] = {
    "static": _static,
    "oidc": _oidc,
    "oauth2": _oauth2,
}


def build_upstreams(
    configs: Sequence[UpstreamConfig],
    client_secrets: Sequence[str | None],
    *,
    outbound: OutboundClient,
    callback_url: str,
    metrics: Metrics,
) -> dict[str, Upstream]:
    """Every configured upstream by name, or ``AuthServerError`` naming the key path.
    ``client_secrets`` lines up with ``configs`` (``Secrets.upstream_secrets``)."""
    upstreams: dict[str, Upstream] = {}
    for index, config in enumerate(configs):
        where = f"auth_server.upstreams[{index}]"
        secret = client_secrets[index] if index < len(client_secrets) else None
        factory = FACTORIES.get(config.type)
        if factory is None:
            raise AuthServerError(f"{where}.type: {config.type!r} is not an upstream kind")
        upstreams[config.name] = factory(
            config, UpstreamContext(outbound, callback_url, metrics, secret, where)
        )
    return upstreams
