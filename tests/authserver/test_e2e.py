# SPDX-License-Identifier: Apache-2.0
"""End to end, all real processes on loopback: the official MCP client discovers the PRM and
the authorization server through the sidecar, registers, logs in, calls tools and refreshes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import jwt
import pytest
from mcp import Client
from mcp.client.sse import sse_client
from yarl import URL

from sidecar.authserver.consent import known_user_cookie
from sidecar.authserver.web import AUTH_SERVER
from tests.authn.idp import Idp
from tests.authserver.flow import (
    Browser,
    MemoryTokens,
    RawClient,
    csrf_of,
    mode_b_settings,
    oauth_provider,
    oidc_upstream,
    pkce_pair,
    signed_in,
)
from tests.support import RunningSidecar, wait_for


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(http)


async def test_sdk_client_logs_in_with_static_upstream_and_calls_tools(
    mcp_server: str, browser: Browser
) -> None:
    """The official client registers, signs in once and calls tools with its tokens."""
    async with signed_in(mode_b_settings(mcp_server), browser) as session:
        for _ in range(2):
            async with session.client() as client:
                result = await client.call_tool("add", {"a": 20, "b": 22})
                assert result.structured_content == {"result": 42}
        assert session.storage.client is not None
        assert session.storage.tokens is not None
        assert session.storage.tokens.refresh_token is not None
    assert browser.sign_ins == 1


async def test_sdk_client_refreshes_an_expired_access_token_and_carries_on(
    mcp_server: str, browser: Browser
) -> None:
    """When its access token expires, the official client refreshes it (rotation) and carries
    on, without another sign-in."""
    # The shortest lifespan the configuration allows, so the token really expires (both clocks).
    settings = mode_b_settings(mcp_server, token_lifespans={"access_token_lifespan": "5s"})
    async with signed_in(settings, browser) as session:
        async with session.client() as client:
            await client.call_tool("add", {"a": 1, "b": 2})
        first = session.storage.tokens
        assert first is not None
        assert first.expires_in is not None
        assert first.expires_in <= 5
        expires_at = time.time() + first.expires_in
        await wait_for(lambda: time.time() > expires_at, first.expires_in + 30, what="the token's expiry")
        async with session.client() as client:
            result = await client.call_tool("add", {"a": 20, "b": 22})
        assert result.structured_content == {"result": 42}
        second = session.storage.tokens
        assert second is not None
        assert second.access_token != first.access_token
        assert second.refresh_token != first.refresh_token
    assert browser.sign_ins == 1


async def test_sdk_client_logs_in_through_a_real_upstream_oidc_provider(
    mcp_server: str, browser: Browser, idp: Idp
) -> None:
    """The upstream leg against a real OpenID Provider process: PKCE, state and nonce of its
    own, the ID token checked, and the user's upstream tokens kept for the backends."""
    upstream = oidc_upstream(idp.issuer, scopes=["openid", "email"])
    async with signed_in(mode_b_settings(mcp_server, upstream=upstream), browser) as session:
        async with session.client() as client:
            result = await client.call_tool("echo", {"text": "federated"})
        assert result.structured_content == {"result": "federated"}
        assert browser.consents == 1  # the user was asked before going upstream
        claims = session.access_claims()
        assert claims["sub"].startswith("u-")  # the internal id, not the upstream's "johndoe"
        # Upstream tokens are not visible on any endpoint yet (no outgoing auth uses them), so
        # storage is read; revocation goes through the public endpoint.
        server = session.sidecar.sidecar.app[AUTH_SERVER]
        kept = await server.storage.get_upstream_tokens(claims["tsid"], "corp", time.time())
        assert kept is not None
        assert kept.id_token is not None
        assert kept.access_token
        tokens, registered = session.storage.tokens, session.storage.client
        assert tokens is not None
        assert tokens.refresh_token is not None
        assert registered is not None
        raw = RawClient(browser.http, session.url.removesuffix("/mcp"))
        assert await raw.revoke(registered.client_id, tokens.refresh_token) == 200
        assert await raw.call_mcp(tokens.access_token) == 401
        assert await server.storage.get_upstream_tokens(claims["tsid"], "corp", time.time()) is None


async def test_sdk_client_logs_in_through_a_plain_oauth2_upstream(
    mcp_server: str, browser: Browser, idp: Idp
) -> None:
    """Explicit endpoints and userinfo (no discovery, no ID token), against the real provider."""
    upstream = {
        "name": "plain",
        "type": "oauth2",
        "oauth2_config": {
            "authorization_endpoint": f"{idp.issuer}/authorize",
            "token_endpoint": f"{idp.issuer}/token",
            "userinfo_endpoint": f"{idp.issuer}/userinfo",
            "client_id": "mcp-sidecar",
            "scopes": ["profile"],
            "insecure_allow_http": True,
            "allow_private_ip": True,
        },
    }
    async with signed_in(mode_b_settings(mcp_server, upstream=upstream), browser) as session:
        async with session.client() as client:
            result = await client.call_tool("add", {"a": 5, "b": 6})
        assert result.structured_content == {"result": 11}
        claims = session.access_claims()
        kept = await session.sidecar.sidecar.app[AUTH_SERVER].storage.get_upstream_tokens(
            claims["tsid"], "plain", time.time()
        )
    assert kept is not None
    assert kept.id_token is None


async def test_upstream_login_needs_the_users_consent(mcp_server: str, idp: Idp) -> None:
    """Confused deputy: a user already signed in upstream is still asked; "deny" goes back to
    the client as access_denied, and a consent post from another browser is refused."""
    upstream = oidc_upstream(idp.issuer)
    settings = mode_b_settings(mcp_server, upstream=upstream)
    assert settings.server.public_url is not None
    base = settings.server.public_url
    async with (
        RunningSidecar(settings),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        raw = RawClient(http, base)
        _verifier, challenge = pkce_pair()
        resp = await raw.authorize(raw.authorize_url(await raw.public_client(), challenge))
        assert resp.status == 302
        consent = f"{base}{resp.headers['Location']}"
        assert consent.startswith(f"{base}/oauth/consent?")
        async with http.get(consent) as page:
            text = await page.text()
            assert page.headers["X-Frame-Options"] == "DENY"
        assert "127.0.0.1:9" in text  # where the code would go
        request_id = parse_qs(urlsplit(consent).query)["request"][0]
        async with (
            aiohttp.ClientSession() as stranger,
            stranger.post(
                f"{base}/oauth/consent",
                data={"request": request_id, "decision": "allow"},
                allow_redirects=False,
            ) as forged,
        ):
            assert forged.status == 400
        form = {"request": request_id, "csrf": csrf_of(text), "decision": "deny"}
        async with http.post(f"{base}/oauth/consent", data=form, allow_redirects=False) as denied:
            assert denied.status == 303
            query = parse_qs(urlsplit(denied.headers["Location"]).query)
        assert query["error"] == ["access_denied"]
        assert query["state"] == ["st-1"]


async def test_legacy_sse_client_logs_in_and_calls_tools(mcp_server: str, browser: Browser) -> None:
    """The 2024-11-05 HTTP+SSE transport with OAuth: /sse and /messages/ are resources of their
    own (RFC 9728 §3.3), and a token for /sse is good for the messages it posts."""
    settings = mode_b_settings(mcp_server, legacy_sse=True)
    assert settings.server.public_url is not None
    url = f"{settings.server.public_url}/sse"
    storage = MemoryTokens()
    provider = oauth_provider(url, browser, storage)
    async with RunningSidecar(settings), Client(sse_client(url, auth=provider), mode="legacy") as client:
        result = await client.call_tool("add", {"a": 3, "b": 4})
    assert result.structured_content == {"result": 7}
    assert storage.tokens is not None
    claims = jwt.decode(storage.tokens.access_token, options={"verify_signature": False})
    assert claims["aud"] == url


async def test_upstream_consent_is_remembered_for_the_browsers_known_user(mcp_server: str, idp: Idp) -> None:
    """After the user allowed a client before an oidc login, the next authorization of that
    client in the same browser (the known-user cookie names them) goes straight upstream; a
    wider scope asks again."""
    settings = mode_b_settings(mcp_server, upstream=oidc_upstream(idp.issuer))
    assert settings.server.public_url is not None
    async with (
        RunningSidecar(settings),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        raw, browser = RawClient(http, settings.server.public_url), Browser(http)
        client_id = await raw.public_client()
        for scope, consents in (("openid", 1), ("openid", 1), ("openid email", 2)):
            await browser.sign_in(raw.authorize_url(client_id, pkce_pair()[1], scope=scope))
            assert browser.result is not None
            assert browser.consents == consents
        other_client = await raw.public_client()
        await browser.sign_in(raw.authorize_url(other_client, pkce_pair()[1], scope="openid"))
        assert browser.consents == 3


async def test_consent_skipped_for_one_user_is_refused_when_another_signs_in(
    mcp_server: str, idp: Idp
) -> None:
    """The known-user cookie only skips the page: if another user signs in upstream, who has not
    allowed the client, no code is issued (403), and the cookie now names them so the next try
    asks. A cookie with a bad MAC skips nothing."""
    settings = mode_b_settings(mcp_server, upstream=oidc_upstream(idp.issuer))
    base = settings.server.public_url
    assert base is not None
    async with (
        RunningSidecar(settings) as sidecar,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        server = sidecar.sidecar.app[AUTH_SERVER]
        raw = RawClient(http, base)
        client_id = await raw.public_client()
        await server.storage.put_consent("someone-else", client_id, ("openid",), time.time() + 600)
        forged = known_user_cookie(server.opaque, "someone-else")[:-2] + "xx"
        http.cookie_jar.update_cookies({"mcp_sidecar_user": forged}, URL(f"{base}/oauth/"))
        resp = await raw.authorize(raw.authorize_url(client_id, pkce_pair()[1], scope="openid"))
        assert resp.headers["Location"].startswith("/oauth/consent?")  # a forged cookie skips nothing
        http.cookie_jar.update_cookies(
            {"mcp_sidecar_user": known_user_cookie(server.opaque, "someone-else")}, URL(f"{base}/oauth/")
        )
        url = raw.authorize_url(client_id, pkce_pair()[1], scope="openid")
        for _ in range(10):
            async with http.get(url, allow_redirects=False) as resp:
                status, text = resp.status, await resp.text()
                if status not in (302, 303):
                    break
                assert not resp.headers["Location"].startswith("/oauth/consent")
                url = urljoin(url, resp.headers["Location"])
        assert status == 403
        assert "another user" in text
        remembered = {cookie.key: cookie.value for cookie in http.cookie_jar}["mcp_sidecar_user"]
        assert not remembered.startswith("someone-else.")
