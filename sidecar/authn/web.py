# SPDX-License-Identifier: Apache-2.0
"""The aiohttp side of authentication: building the validator from the settings, its lifecycle,
and the RFC 9728 metadata routes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from sidecar.authn.authenticator import Authenticator
from sidecar.authn.introspection import Introspector
from sidecar.authn.jwks import JwksSource
from sidecar.authn.keys import KeyProvider
from sidecar.authn.protected_resource import WELL_KNOWN, metadata, metadata_path
from sidecar.authn.validator import TokenValidator
from sidecar.config.schema import OidcIncoming, Settings
from sidecar.observability.metrics import Metrics
from sidecar.outbound import OutboundClient, OutboundPolicy
from sidecar.public_documents import cors_preflight, public_json
from sidecar.tasks import BackgroundTasks


@dataclass(frozen=True, slots=True)
class Authn:
    authenticator: Authenticator
    validator: TokenValidator
    outbound: OutboundClient
    jwks: JwksSource
    background_refresh: bool

    async def lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: refresh the JWKS in the background (never blocking start-up). With an
        in-process key tier the JWKS is fetched only on a kid miss, never at start."""
        tasks = BackgroundTasks()
        if self.background_refresh:
            tasks.spawn(self.jwks.run_refresh(), name="jwks-refresh")
        yield
        await tasks.close()
        await self.outbound.close()


def build_authn(
    settings: Settings,
    metrics: Metrics,
    key_provider: KeyProvider | None,
    session_revoked: Callable[[str], Awaitable[bool]] | None = None,
    *,
    own_issuer: bool = False,
) -> Authn | None:
    """The authentication layer, or None in anonymous mode. ``own_issuer``: the tokens come from
    the embedded authorization server, whose keys are all in ``key_provider``; there is then no
    HTTP tier at all, and a token with a key id it does not know is refused (401), not retried."""
    auth = settings.incoming_auth
    if not isinstance(auth, OidcIncoming):
        return None
    oidc = auth.oidc
    assert settings.server.public_url is not None  # noqa: S101 - a config rule requires it
    policy = OutboundPolicy(allow_http=oidc.insecure_allow_http, allow_private=oidc.allow_private_ip)
    outbound = OutboundClient(timeout=oidc.fetch_timeout)
    jwks = JwksSource(
        client=outbound,
        policy=policy,
        issuer=oidc.issuer,
        jwks_url=oidc.jwks_url,
        refresh_min=oidc.jwks_refresh_min,
        refresh_max=oidc.jwks_refresh_max,
        max_stale=oidc.jwks_max_stale,
        cooldown=oidc.unknown_kid_cooldown,
        metrics=metrics,
    )
    introspector = None
    secret = settings.secrets.introspection_secret  # read by the loader, once
    if oidc.introspection_url is not None and oidc.client_id is not None and secret is not None:
        introspector = Introspector(
            client=outbound,
            policy=policy,
            url=oidc.introspection_url,
            client_id=oidc.client_id,
            client_secret=secret,
        )
    validator = TokenValidator(
        oidc,
        local=key_provider,
        jwks=None if own_issuer else jwks,
        introspector=introspector,
        session_revoked=session_revoked,
    )
    authenticator = Authenticator(oidc, settings.server.public_url, settings.backends, validator, metrics)
    # Only a JWKS that is the main key source is fetched at start: with in-process keys or with
    # introspection (and no explicit jwks_url) it is fetched lazily, on the first JWT that needs it.
    background = key_provider is None and (introspector is None or oidc.jwks_url is not None)
    return Authn(authenticator, validator, outbound, jwks, background_refresh=background)


def add_metadata_routes(app: web.Application, settings: Settings, authn: Authn) -> None:
    """RFC 9728 documents at the path-suffixed URL of every backend, and at the root (which
    describes the first backend, for clients that only try the root)."""
    auth = settings.incoming_auth
    assert isinstance(auth, OidcIncoming)  # noqa: S101
    servers = [auth.oidc.issuer]
    scopes = auth.oidc.scopes_supported or auth.oidc.required_scopes
    documents = []
    for backend in settings.backends:
        policy = authn.authenticator.policies[backend.name]
        backend_scopes = dict.fromkeys((*scopes, *backend.required_scopes))
        documents += [
            (metadata_path(path), metadata(resource, servers, backend_scopes))
            for path, resource in policy.resources.items()
        ]
    documents.append((WELL_KNOWN, documents[0][1]))
    for path, document in documents:
        app.router.add_get(path, public_json(document))
        app.router.add_route("OPTIONS", path, cors_preflight)
