# SPDX-License-Identifier: Apache-2.0
"""The redirect upstreams against a real provider process: the login leg, and the refresh grant
(RFC 6749 §6) with its two ways to fail: refused by the provider, or the provider unreachable."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import pytest

from sidecar.authserver.upstreams.oauth2 import OAuth2Provider
from sidecar.authserver.upstreams.oidc import OidcProvider
from sidecar.authserver.upstreams.protocol import UpstreamRefused, UpstreamUnavailable
from sidecar.authserver.upstreams.redirect import RedirectUpstream
from sidecar.config.auth_server import OAuth2Upstream, OAuth2UpstreamConfig, OidcUpstream, OidcUpstreamConfig
from sidecar.observability.metrics import Metrics
from sidecar.outbound import OutboundClient
from sidecar.storage.records import UpstreamTokens
from tests.authn.idp import Idp

CALLBACK = "http://127.0.0.1:9/oauth/callback"


def _oidc(idp: Idp, client: OutboundClient) -> RedirectUpstream:
    config = OidcUpstreamConfig(
        issuer_url=idp.issuer, client_id="mcp-sidecar", insecure_allow_http=True, allow_private_ip=True
    )
    return OidcProvider(
        OidcUpstream(name="corp", type="oidc", oidc_config=config),
        client=client,
        client_secret=None,
        callback_url=CALLBACK,
        metrics=Metrics(),
    )


def _oauth2(idp: Idp, client: OutboundClient) -> RedirectUpstream:
    config = OAuth2UpstreamConfig(
        authorization_endpoint=f"{idp.issuer}/authorize",
        token_endpoint=f"{idp.issuer}/token",
        userinfo_endpoint=f"{idp.issuer}/userinfo",
        client_id="mcp-sidecar",
        insecure_allow_http=True,
        allow_private_ip=True,
    )
    return OAuth2Provider(
        OAuth2Upstream(name="plain", type="oauth2", oauth2_config=config),
        client=client,
        client_secret="upstream-secret",
        callback_url=CALLBACK,
    )


@pytest.fixture
async def outbound() -> AsyncIterator[OutboundClient]:
    client = OutboundClient(timeout=5)
    yield client
    await client.close()


@pytest.fixture(params=[_oidc, _oauth2], ids=["oidc", "oauth2"])
async def upstream(request: pytest.FixtureRequest, idp: Idp, outbound: OutboundClient) -> RedirectUpstream:
    kind: Callable[[Idp, OutboundClient], RedirectUpstream] = request.param
    return kind(idp, outbound)


async def _log_in(upstream: RedirectUpstream) -> UpstreamTokens:
    """The browser's part of the login: the provider answers the authorization URL with a
    redirect to the callback at once (the mock logs everyone in as johndoe)."""
    start = await upstream.begin("state-1")
    assert start.authorization_url is not None
    async with (
        aiohttp.ClientSession() as http,
        http.get(start.authorization_url, allow_redirects=False) as resp,
    ):
        location = resp.headers["Location"]
    params = dict(parse_qsl(urlsplit(location).query))
    assert params["state"] == "state-1"
    result = await upstream.complete(params, start.remembered)
    assert result.tokens is not None
    assert result.tokens.refresh_token is not None
    return result.tokens


async def test_refresh_gets_a_new_access_token_and_the_rotated_refresh_token(
    upstream: RedirectUpstream,
) -> None:
    """RFC 6749 §6: a new access token; the provider rotated the refresh token, so the new one is kept."""
    tokens = await _log_in(upstream)
    refreshed = await upstream.refresh(tokens)
    assert refreshed.access_token  # the mock's JWT can equal the old one within the same second
    assert refreshed.refresh_token not in (None, tokens.refresh_token)
    assert refreshed.provider == tokens.provider
    assert refreshed.id_token == tokens.id_token  # the login's checked ID token stays
    assert refreshed.expires_at is not None
    assert refreshed.expires_at > time.time()


async def test_refresh_keeps_the_refresh_token_when_the_provider_sends_none(
    idp: Idp, upstream: RedirectUpstream
) -> None:
    """RFC 6749 §6: without a new refresh token in the answer, the old one is still the one to use."""
    tokens = await _log_in(upstream)
    await idp.rotate_refresh_tokens(False)
    refreshed = await upstream.refresh(tokens)
    assert refreshed.refresh_token == tokens.refresh_token
    assert (await upstream.refresh(refreshed)).access_token


async def test_refresh_refused_by_the_provider_is_upstream_refused(upstream: RedirectUpstream) -> None:
    """A refresh token the provider no longer accepts (here: one it rotated away) is a refusal
    (invalid_grant), which outgoing auth answers with 401, never an outage."""
    tokens = await _log_in(upstream)
    await upstream.refresh(tokens)
    with pytest.raises(UpstreamRefused, match="refused"):
        await upstream.refresh(tokens)


async def test_refresh_without_a_refresh_token_is_upstream_refused(
    idp: Idp, outbound: OutboundClient
) -> None:
    """A provider that gave no refresh token at login cannot refresh: the user must log in again."""
    upstream = _oidc(idp, outbound)
    tokens = dataclasses.replace(await _log_in(upstream), refresh_token=None)
    with pytest.raises(UpstreamRefused):
        await upstream.refresh(tokens)


async def test_refresh_while_the_provider_fails_is_upstream_unavailable(
    idp: Idp, upstream: RedirectUpstream
) -> None:
    """A provider answering 503 is an outage (retry later), not a refusal of the refresh token."""
    tokens = await _log_in(upstream)
    await idp.set_down(True)
    with pytest.raises(UpstreamUnavailable):
        await upstream.refresh(tokens)
    await idp.set_down(False)
    assert (await upstream.refresh(tokens)).access_token  # the refresh token was not used up


async def test_refresh_with_the_provider_unreachable_is_upstream_unavailable(
    idp: Idp, upstream: RedirectUpstream
) -> None:
    """No process listening at the token endpoint: an outage, answered with 503 by outgoing auth."""
    tokens = await _log_in(upstream)
    idp.stop()
    with pytest.raises(UpstreamUnavailable, match="cannot be reached"):
        await upstream.refresh(tokens)
