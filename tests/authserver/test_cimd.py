# SPDX-License-Identifier: Apache-2.0
"""Client ID Metadata Documents (MCP SEP-991): documents served by a real HTTP server on
loopback, the official SDK client configured for CIMD, one named test per way a document is
refused (always an error page, never a redirect), and the pure rules as tables and fuzz."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from sidecar.authserver.cimd import MAX_TTL, MIN_TTL, cache_lifetime, check_document_url, client_from_document
from sidecar.authserver.errors import ClientDocumentRefused
from sidecar.config.auth_server import CimdConfig
from tests.authserver.flow import (
    PASSWORD,
    REDIRECT,
    Browser,
    RawClient,
    mode_b_settings,
    pkce_pair,
    running,
    signed_in,
)
from tests.support import free_port

SCOPES = ("openid", "profile", "email", "offline_access")


class DocumentServer:
    """Serves client metadata documents, good and bad, on a loopback port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.fetches = 0

    def url(self, name: str) -> str:
        return f"{self.base}/clients/{name}"

    def document(self, name: str, **changes: Any) -> dict[str, Any]:
        return {
            "client_id": self.url(name),
            "client_name": "CIMD test client",
            "redirect_uris": [REDIRECT],
            "grant_types": [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code",
            ],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            **changes,
        }

    def app(self) -> web.Application:
        documents: Mapping[str, Any] = {
            "good": self.document("good"),
            "second": self.document("second"),
            "mismatch": self.document("mismatch", client_id=self.url("other")),
            "secret": self.document("secret", client_secret="s3cret"),
            "basic": self.document("basic", token_endpoint_auth_method="client_secret_basic"),
            "jwt-without-jwks": self.document(
                "jwt-without-jwks", token_endpoint_auth_method="private_key_jwt"
            ),
            "no-redirects": self.document("no-redirects", redirect_uris=[]),
            "oversized": self.document("oversized", client_name="x" * 6000),
        }

        async def serve(request: web.Request) -> web.StreamResponse:
            self.fetches += 1
            name = request.match_info["name"]
            if name == "redirecting":
                raise web.HTTPFound(self.url("good"))
            if name == "slow":
                await asyncio.sleep(8)
            if name == "not-json":
                return web.Response(text="<html>hello</html>", content_type="text/html")
            if name not in documents and name != "slow":
                raise web.HTTPNotFound()
            return web.json_response(
                documents.get(name, self.document(name)), headers={"Cache-Control": "max-age=600"}
            )

        app = web.Application()
        app.router.add_get("/clients/{name}", serve)
        return app


@contextlib.asynccontextmanager
async def document_server() -> AsyncIterator[DocumentServer]:
    server = DocumentServer()
    runner = web.AppRunner(server.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", server.port).start()
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest.fixture
async def documents() -> AsyncIterator[DocumentServer]:
    async with document_server() as server:
        yield server


@pytest.fixture
async def raw(mcp_server: str) -> AsyncIterator[RawClient]:
    async with running(mode_b_settings(mcp_server, cimd={"insecure_allow_loopback": True})) as client:
        yield client


async def test_sdk_client_configured_for_cimd_signs_in_and_calls_tools(
    mcp_server: str, documents: DocumentServer
) -> None:
    """The official client, given a metadata URL, uses it as its client_id (no registration)."""
    settings = mode_b_settings(mcp_server, cimd={"insecure_allow_loopback": True})
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
        signed_in(settings, Browser(http)) as session,
    ):
        # The SDK accepts only an https metadata URL at construction (as it should); the
        # loopback document server is plain http, allowed here by insecure_allow_loopback.
        session.provider.context.client_metadata_url = documents.url("good")
        async with session.client() as client:
            result = await client.call_tool("add", {"a": 20, "b": 22})
        assert result.structured_content == {"result": 42}
        assert session.storage.client is not None
        assert session.storage.client.client_id == documents.url("good")
        assert session.access_claims()["client_id"] == documents.url("good")
        assert documents.fetches == 1  # the authorization and the token request share the cache


async def test_cimd_client_refreshes(raw: RawClient, documents: DocumentServer) -> None:
    """A CIMD client's refresh works (ToolHive #6489: its grants keep their audience)."""
    verifier, challenge = pkce_pair()
    client_id = documents.url("good")
    status, tokens = await raw.exchange(client_id, await raw.code(client_id, challenge), verifier)
    assert status == 200, tokens
    status, refreshed = await raw.refresh(client_id, tokens["refresh_token"])
    assert status == 200, refreshed
    assert await raw.call_mcp(refreshed["access_token"]) == 200


async def test_metadata_advertises_cimd(raw: RawClient) -> None:
    for path in ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"):
        async with raw.http.get(f"{raw.base}{path}") as resp:
            assert (await resp.json())["client_id_metadata_document_supported"] is True


async def _refused(raw: RawClient, client_id: str, redirect_uri: str = REDIRECT) -> str:
    """The error page's text for an authorization by ``client_id``; asserts there was no redirect."""
    resp = await raw.authorize(raw.authorize_url(client_id, pkce_pair()[1], redirect_uri=redirect_uri))
    assert resp.status == 400, resp.headers.get("Location")
    assert "Location" not in resp.headers
    return await resp.text()


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("mismatch", "client_id is not exactly the URL"),
        ("secret", "must not carry a client secret"),
        ("basic", "token_endpoint_auth_method must be none or private_key_jwt"),
        ("jwt-without-jwks", "private_key_jwt needs a jwks_uri"),
        ("no-redirects", "redirect_uris is required"),
        ("oversized", "sent more than 5120 bytes"),
        ("redirecting", "redirects are not followed"),
        ("not-json", "did not send JSON"),
        ("missing", "answered 404"),
    ],
)
async def test_invalid_document_gets_an_error_page_naming_the_rule(
    raw: RawClient, documents: DocumentServer, name: str, rule: str
) -> None:
    assert rule in await _refused(raw, documents.url(name))


async def test_slow_document_refused(raw: RawClient, documents: DocumentServer) -> None:
    assert "could not be fetched in time" in await _refused(raw, documents.url("slow"))


async def test_redirect_uri_not_listed_in_the_document_refused(
    raw: RawClient, documents: DocumentServer
) -> None:
    """Confused deputy: a document vouches only for its own redirect URIs."""
    text = await _refused(raw, documents.url("good"), redirect_uri="https://attacker.example/cb")
    assert "redirect_uri is not registered" in text


async def test_private_address_refused_without_the_development_setting(
    mcp_server: str, documents: DocumentServer
) -> None:
    """SSRF: without insecure_allow_loopback a document on a loopback address is never fetched."""
    async with running(mode_b_settings(mcp_server)) as raw:
        https_url = documents.url("good").replace("http://", "https://")
        assert "address is not allowed" in await _refused(raw, https_url)
        assert "must use https" in await _refused(raw, documents.url("good"))
    assert documents.fetches == 0


async def test_cimd_disabled_treats_a_url_as_an_unknown_client(
    mcp_server: str, documents: DocumentServer
) -> None:
    async with running(mode_b_settings(mcp_server, cimd={"enabled": False})) as raw:
        assert "unknown client_id" in await _refused(raw, documents.url("good"))
        async with raw.http.get(f"{raw.base}/.well-known/oauth-authorization-server") as resp:
            assert (await resp.json())["client_id_metadata_document_supported"] is False
    assert documents.fetches == 0


async def test_host_not_in_allowed_hosts_refused(mcp_server: str, documents: DocumentServer) -> None:
    settings = mode_b_settings(
        mcp_server, cimd={"insecure_allow_loopback": True, "allowed_hosts": ["clients.example.com"]}
    )
    async with running(settings) as raw:
        assert "are not accepted here" in await _refused(raw, documents.url("good"))
    assert documents.fetches == 0


_LOOPBACK = CimdConfig(insecure_allow_loopback=True)


@pytest.mark.parametrize(
    ("url", "config", "rule"),
    [
        ("https://app.example.com/client.json", CimdConfig(), None),
        ("https://app.example.com", CimdConfig(), "must have a path"),
        ("https://app.example.com/", CimdConfig(), "must have a path"),
        ("http://app.example.com/client.json", CimdConfig(), "must use https"),
        ("http://app.example.com/client.json", _LOOPBACK, "must use https"),
        ("http://127.0.0.1:8/client.json", CimdConfig(), "must use https"),
        ("http://127.0.0.1:8/client.json", _LOOPBACK, None),
        ("http://localhost:8/client.json", _LOOPBACK, None),
        ("https://user:pw@app.example.com/client.json", CimdConfig(), "user information"),
        ("https://app.example.com/client.json#x", CimdConfig(), "fragment"),
        ("https://app.example.com/client.json#", CimdConfig(), "fragment"),
        ("https://app.example.com/a/../client.json", CimdConfig(), ". or .. path segments"),
        ("https://app.example.com/./client.json", CimdConfig(), ". or .. path segments"),
        ("https://app.example.com/" + "a" * 2000, CimdConfig(), "longer than"),
        ("https://evil.example/c.json", CimdConfig(allowed_hosts=("app.example.com",)), "not accepted"),
        ("https://APP.example.com/c.json", CimdConfig(allowed_hosts=("app.example.com",)), None),
    ],
)
def test_document_url_rules(url: str, config: CimdConfig, rule: str | None) -> None:
    if rule is None:
        check_document_url(url, config)
    else:
        with pytest.raises(ClientDocumentRefused, match=rule):
            check_document_url(url, config)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 300.0),
        ({"Cache-Control": "max-age=600"}, 600.0),
        ({"cache-control": "public, max-age=3"}, MIN_TTL),
        ({"Cache-Control": "max-age=99999999"}, MAX_TTL),
        ({"Cache-Control": "no-store"}, MIN_TTL),
        ({"Cache-Control": "private, no-cache"}, MIN_TTL),
        ({"Expires": "Thu, 01 Jan 2027 00:10:00 GMT"}, 600.0),
        ({"Expires": "not a date"}, MIN_TTL),
    ],
)
def test_cache_lifetime_follows_the_headers_within_bounds(headers: dict[str, str], expected: float) -> None:
    assert cache_lifetime(headers, 300.0, now=1798761600.0) == expected  # 2027-01-01T00:00:00Z


@given(
    url=st.text(max_size=300),
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=30), inner, max_size=6),
        max_leaves=20,
    ),
)
def test_untrusted_urls_and_documents_are_refused_only_with_a_named_rule(url: str, document: object) -> None:
    """Fuzz: whatever the URL and the JSON, the only failure is ClientDocumentRefused."""
    with contextlib.suppress(ClientDocumentRefused):
        check_document_url(url, _LOOPBACK)
    with contextlib.suppress(ClientDocumentRefused):
        client_from_document(url, document, scopes_supported=SCOPES, now=0.0)


@given(redirects=st.lists(st.text(max_size=40), min_size=1, max_size=3), name=st.text(max_size=300))
def test_fuzzed_documents_with_the_right_client_id(redirects: list[str], name: str) -> None:
    url = "https://app.example.com/client.json"
    document = {"client_id": url, "redirect_uris": redirects, "client_name": name}
    try:
        client = client_from_document(url, document, scopes_supported=SCOPES, now=0.0)
    except ClientDocumentRefused:
        return
    assert client.client_id == url
    assert client.token_endpoint_auth_method == "none"
    assert client.secret_hash is None


async def test_consent_page_names_the_cimd_clients_host_without_the_unverified_warning(
    raw: RawClient, documents: DocumentServer
) -> None:
    """A CIMD client is vouched for by the host of its client_id URL: the page shows that host."""
    resp = await raw.authorize(raw.authorize_url(documents.url("good"), pkce_pair()[1]))
    async with raw.http.get(f"{raw.base}{resp.headers['Location']}") as login:
        text = await login.text()
    assert "CIMD test client" in text
    request_id = text.split('name="request" value="', 1)[1].split('"', 1)[0]
    form = {"request": request_id, "username": "alice", "password": PASSWORD}
    async with raw.http.post(f"{raw.base}/oauth/login", data=form, allow_redirects=False) as done:
        consent = done.headers["Location"]
    async with raw.http.get(f"{raw.base}{consent}") as page:
        shown = await page.text()
    assert "(from <strong>127.0.0.1</strong>)" in shown
    assert "not verified" not in shown


async def test_client_document_gone_by_the_login_page_is_an_error_page_not_a_500(mcp_server: str) -> None:
    """The document is fetched again when the cache no longer holds it; if it can no longer be
    had, the login page is an error page (a cache of one, filled by another client, evicts it)."""
    settings = mode_b_settings(mcp_server, cimd={"insecure_allow_loopback": True, "cache_max_size": 1})
    async with running(settings) as raw:
        async with document_server() as documents:
            resp = await raw.authorize(raw.authorize_url(documents.url("good"), pkce_pair()[1]))
            assert resp.status == 302
            login = resp.headers["Location"]
            async with aiohttp.ClientSession() as other_browser:  # keeps this browser's binding
                other = RawClient(other_browser, raw.base)
                evicting = await other.authorize(other.authorize_url(documents.url("second"), pkce_pair()[1]))
                assert evicting.status == 302
        async with raw.http.get(f"{raw.base}{login}") as page:  # the document server is gone
            assert page.status == 400
            assert "Location" not in page.headers
