# SPDX-License-Identifier: Apache-2.0
"""Consent, remembered: the page after the static login, what it shows, when it is skipped, and
the attacks on it (forged and cross-site posts, framing), over real HTTP on a running sidecar."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import jwt
import pytest

from sidecar.authserver.upstreams.protocol import internal_user_id
from tests.authserver.flow import (
    PASSWORD,
    PASSWORD_HASH,
    RawClient,
    csrf_of,
    mode_b_settings,
    pkce_pair,
    running,
)


@pytest.fixture
async def raw(mcp_server: str) -> AsyncIterator[RawClient]:
    async with running(mode_b_settings(mcp_server)) as client:
        yield client


async def _login(raw: RawClient, client_id: str, **params: str) -> str:
    """Authorize ``client_id`` and log in as alice; where the login sends the browser."""
    resp = await raw.authorize(raw.authorize_url(client_id, pkce_pair()[1], **params))
    assert resp.status == 302, await resp.text()
    async with raw.http.get(urljoin(raw.base, resp.headers["Location"])) as page:
        request_id = re.search(r'name="request" value="([^"]+)"', await page.text())
    assert request_id is not None
    form = {"request": request_id[1], "username": "alice", "password": PASSWORD}
    async with raw.http.post(f"{raw.base}/oauth/login", data=form, allow_redirects=False) as done:
        assert done.status == 303, await done.text()
        return done.headers["Location"]


def _asks_consent(location: str) -> bool:
    return location.startswith("/oauth/consent?")


async def _consent_page(raw: RawClient, location: str) -> tuple[str, str, aiohttp.ClientResponse]:
    """The consent page at ``location``: its request id, its text and the response."""
    async with raw.http.get(urljoin(raw.base, location)) as page:
        text = await page.text()
    return parse_qs(urlsplit(location).query)["request"][0], text, page


async def test_first_authorization_asks_and_a_second_skips_the_page(raw: RawClient) -> None:
    client_id = await raw.public_client()
    first = await _login(raw, client_id, scope="openid email")
    assert _asks_consent(first)
    assert "code=" in await raw.allow(first)
    second = await _login(raw, client_id, scope="openid email")
    assert not _asks_consent(second)
    assert "code=" in second
    fewer = await _login(raw, client_id, scope="openid")
    assert "code=" in fewer


async def test_a_wider_scope_asks_again(raw: RawClient) -> None:
    client_id = await raw.public_client()
    assert "code=" in await raw.allow(await _login(raw, client_id, scope="openid"))
    assert _asks_consent(await _login(raw, client_id, scope="openid email"))


async def test_another_client_asks_again(raw: RawClient) -> None:
    """An approval is for one client: a second client by the same user is asked."""
    assert "code=" in await raw.allow(await _login(raw, await raw.public_client()))
    assert _asks_consent(await _login(raw, await raw.public_client()))


async def test_consent_not_remembered_with_a_zero_lifetime(mcp_server: str) -> None:
    async with running(mode_b_settings(mcp_server, consent_lifetime="0s")) as raw:
        client_id = await raw.public_client()
        assert "code=" in await raw.allow(await _login(raw, client_id))
        assert _asks_consent(await _login(raw, client_id))


async def test_consent_page_names_client_redirect_host_scopes_and_upstream(raw: RawClient) -> None:
    location = await _login(raw, await raw.public_client(), scope="openid email")
    _request_id, text, page = await _consent_page(raw, location)
    assert page.status == 200
    for shown in ("raw", "127.0.0.1:9", "openid email", "local", f"{raw.base}/mcp", "not verified"):
        assert shown in text
    # RFC 9700 §4.16: never framed.
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


async def test_deny_returns_access_denied_to_the_client(raw: RawClient) -> None:
    location = await raw.allow(await _login(raw, await raw.public_client()), decision="deny")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == ["st-1"]


async def test_forged_consent_post_without_the_csrf_token_refused(raw: RawClient) -> None:
    """CSRF: the consent form's token is bound to the pending request; without it, or with the
    token of another request, nothing is approved, and the real form still works."""
    client_id = await raw.public_client()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        other = RawClient(http, raw.base)
        _other_id, other_text, _ = await _consent_page(other, await _login(other, client_id))
    location = await _login(raw, client_id)
    request_id, _text, _page = await _consent_page(raw, location)
    for csrf in (None, "", csrf_of(other_text)):
        form = {"request": request_id, "decision": "allow"} | ({"csrf": csrf} if csrf is not None else {})
        async with raw.http.post(f"{raw.base}/oauth/consent", data=form, allow_redirects=False) as forged:
            assert forged.status == 403
            assert "Location" not in forged.headers
    assert "code=" in await raw.allow(location)


async def test_cross_site_consent_post_refused_even_with_the_token(raw: RawClient) -> None:
    """GHSA-6x8h-498w-gv8c: a form another site posts (Sec-Fetch-Site: cross-site) never approves."""
    location = await _login(raw, await raw.public_client())
    request_id, text, _page = await _consent_page(raw, location)
    form = {"request": request_id, "csrf": csrf_of(text), "decision": "allow"}
    forged = await _post_consent(raw, form, "cross-site")
    assert forged.status == 403
    assert "Location" not in forged.headers
    real = await _post_consent(raw, form, "same-origin")
    assert real.status == 303
    assert "code=" in real.headers["Location"]


async def _post_consent(raw: RawClient, form: dict[str, str], fetch_site: str) -> aiohttp.ClientResponse:
    async with raw.http.post(
        f"{raw.base}/oauth/consent", data=form, headers={"Sec-Fetch-Site": fetch_site}, allow_redirects=False
    ) as resp:
        await resp.read()
        return resp


async def test_cross_site_login_post_refused(raw: RawClient) -> None:
    resp = await raw.authorize(raw.authorize_url(await raw.public_client(), pkce_pair()[1]))
    request_id = parse_qs(urlsplit(resp.headers["Location"]).query)["request"][0]
    form = {"request": request_id, "username": "alice", "password": PASSWORD}
    async with raw.http.post(
        f"{raw.base}/oauth/login", data=form, headers={"Sec-Fetch-Site": "cross-site"}, allow_redirects=False
    ) as forged:
        assert forged.status == 403


async def test_consent_from_another_browser_refused(raw: RawClient) -> None:
    """The browser binding: the token alone, posted without the cookie, approves nothing."""
    location = await _login(raw, await raw.public_client())
    request_id, text, _page = await _consent_page(raw, location)
    form = {"request": request_id, "csrf": csrf_of(text), "decision": "allow"}
    async with (
        aiohttp.ClientSession() as stranger,
        stranger.post(f"{raw.base}/oauth/consent", data=form, allow_redirects=False) as forged,
    ):
        assert forged.status == 400
        assert "Location" not in forged.headers


async def test_a_second_login_on_one_request_issues_the_code_for_that_user(mcp_server: str) -> None:
    """Alice logs in and waits at the consent page; Bob, who approved the client before, then
    logs in on the same request: the code is Bob's, never Alice's (who approved nothing)."""
    users = [{"username": name, "password_hash": PASSWORD_HASH} for name in ("alice", "bob")]
    settings = mode_b_settings(
        mcp_server, upstream={"name": "local", "type": "static", "static_config": {"users": users}}
    )
    base = str(settings.server.public_url)
    async with running(settings), aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        raw = RawClient(http, base)
        client_id = await raw.public_client()

        async def login(request_id: str, username: str) -> str:
            form = {"request": request_id, "username": username, "password": PASSWORD}
            async with http.post(f"{base}/oauth/login", data=form, allow_redirects=False) as done:
                return done.headers["Location"]

        async def new_request(challenge: str) -> str:
            resp = await raw.authorize(raw.authorize_url(client_id, challenge))
            async with http.get(urljoin(base, resp.headers["Location"])) as page:
                found = re.search(r'name="request" value="([^"]+)"', await page.text())
            assert found is not None
            return found[1]

        # Bob approves the client once; the approval is remembered.
        assert "code=" in await raw.allow(await login(await new_request(pkce_pair()[1]), "bob"))
        verifier, challenge = pkce_pair()
        request_id = await new_request(challenge)
        assert (await login(request_id, "alice")).startswith("/oauth/consent")  # not approved: asked
        code = parse_qs(urlsplit(await login(request_id, "bob")).query)["code"][0]
        status, tokens = await raw.exchange(client_id, code, verifier)
        assert status == 200, tokens
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert claims["sub"] == internal_user_id("local", "bob")
