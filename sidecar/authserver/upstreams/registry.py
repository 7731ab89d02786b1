# SPDX-License-Identifier: Apache-2.0
"""The configured upstreams, built by a factory per config ``type`` and found by ``name``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

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


def _static(config: StaticUpstream, _context: UpstreamContext) -> Upstream:
    return StaticProvider(config)


def _oidc(config: OidcUpstream, context: UpstreamContext) -> Upstream:
    return OidcProvider(
        config,
        client=context.outbound,
        client_secret=context.client_secret,
        callback_url=context.callback_url,
        metrics=context.metrics,
    )


def _oauth2(config: OAuth2Upstream, context: UpstreamContext) -> Upstream:
    return OAuth2Provider(
        config,
        client=context.outbound,
        client_secret=context.client_secret,
        callback_url=context.callback_url,
    )


def _names_secret(section: OidcUpstreamConfig | OAuth2UpstreamConfig) -> bool:
    return section.client_secret_file is not None or section.client_secret_env is not None


@dataclass(frozen=True, slots=True)
class UpstreamType:
    kind: Literal["form", "redirect"]  # known before any upstream is built: it decides the routes
    build: Callable[[Any, UpstreamContext], Upstream]
    names_secret: Callable[[Any], bool]  # the section names a client secret file or variable


# Keyed by the config's ``type``, which the loader used to pick the dataclass: each factory gets
# its own kind of section (hence Any in the table's type).
UPSTREAM_TYPES: Mapping[str, UpstreamType] = {
    "static": UpstreamType(StaticProvider.kind, _static, lambda _config: False),
    "oidc": UpstreamType(OidcProvider.kind, _oidc, lambda config: _names_secret(config.oidc_config)),
    "oauth2": UpstreamType(OAuth2Provider.kind, _oauth2, lambda config: _names_secret(config.oauth2_config)),
}


def upstream_type(config: UpstreamConfig, where: str) -> UpstreamType:
    found = UPSTREAM_TYPES.get(config.type)
    if found is None:
        raise AuthServerError(f"{where}.type: {config.type!r} is not an upstream kind")
    return found


def client_secrets(configs: Sequence[UpstreamConfig], loaded: Sequence[str | None]) -> tuple[str | None, ...]:
    """Each upstream's client secret as the loader read it (``Secrets.upstream_secrets`` lines up
    with ``configs``), or ``AuthServerError`` naming the key path."""
    secrets: list[str | None] = []
    for index, config in enumerate(configs):
        where = f"auth_server.upstreams[{index}]"
        secret = loaded[index] if index < len(loaded) else None
        if secret is None and upstream_type(config, where).names_secret(config):
            # Fail closed: settings built without the loader would otherwise log in without a secret.
            raise AuthServerError(f"{where}: the client secret was not loaded")
        secrets.append(secret)
    return tuple(secrets)


def build_upstreams(
    configs: Sequence[UpstreamConfig],
    secrets: Sequence[str | None],
    *,
    outbound: OutboundClient,
    callback_url: str,
    metrics: Metrics,
) -> dict[str, Upstream]:
    """Every configured upstream by name; ``secrets`` from ``client_secrets``."""
    return {
        config.name: upstream_type(config, f"auth_server.upstreams[{index}]").build(
            config, UpstreamContext(outbound, callback_url, metrics, secrets[index])
        )
        for index, config in enumerate(configs)
    }
