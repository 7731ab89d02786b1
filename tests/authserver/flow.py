# SPDX-License-Identifier: Apache-2.0
"""Helpers for Mode B tests: a sidecar with the embedded authorization server, and a headless
"browser" that completes the login the way a person would."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import aiohttp
import httpx2
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from sidecar.config import Settings, load_config_data
from sidecar.config.passwords import hash_password
from tests.support import RunningSidecar, free_port

PASSWORD = "wonderland"
PASSWORD_HASH = hash_password(PASSWORD)


def shared_key_files(directory: Path) -> dict[str, Any]:
    """What replicas share besides Redis: the signing key and the HMAC secret (a Secret)."""
    key = directory / "signing.pem"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    hmac_file = directory / "hmac"
    hmac_file.write_text(secrets.token_urlsafe(48))
    for path in (key, hmac_file):
        path.chmod(0o600)
    return {"signing_key_config": {"signing_key_file": str(key)}, "hmac_secret_files": [str(hmac_file)]}


def oidc_upstream(issuer: str, name: str = "corp", **oidc_config: object) -> dict[str, Any]:
    """A real provider process at ``issuer`` as an OIDC upstream (plain HTTP on loopback)."""
    return {
        "name": name,
        "type": "oidc",
        "oidc_config": {
            "issuer_url": issuer,
            "client_id": "mcp-sidecar",
            "insecure_allow_http": True,
            "allow_private_ip": True,
            **oidc_config,
        },
    }


def mode_b_raw(public: str = "https://mcp.example.com", **auth_server: Any) -> dict[str, Any]:
    """The smallest Mode B config document on ``public``, one static user, no key files."""
    return {
        "server": {"public_url": public},
        "backends": [{"name": "demo", "url": "http://127.0.0.1:3001/mcp", "path": "/mcp"}],
        "incoming_auth": {"type": "oidc", "oidc": {"issuer": public}},
        "auth_server": {
            "issuer": public,
            "allowed_audiences": [f"{public}/mcp"],
            "upstreams": [
                {
                    "name": "local",
                    "type": "static",
                    "static_config": {"users": [{"username": "alice", "password_hash": PASSWORD_HASH}]},
                }
            ],
            **auth_server,
        },
    }


def mode_b_settings(
    mcp_origin: str,
    *,
    upstream: dict[str, Any] | None = None,
    legacy_sse: bool = False,
    server: dict[str, Any] | None = None,
    backend: dict[str, Any] | None = None,
    **auth_server: Any,
) -> Settings:
    """A Mode B sidecar in front of the MCP server at ``mcp_origin`` (with ``legacy_sse``, also
    its HTTP+SSE transport at /sse and /messages/); ``server`` adds keys to its server section,
    ``backend`` to its backend."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    upstream = upstream or {
        "name": "local",
        "type": "static",
        "static_config": {
            "users": [
                {
                    "username": "alice",
                    "password_hash": PASSWORD_HASH,
                    "email": "alice@example.com",
                    "name": "Alice",
                }
            ]
        },
    }
    section: dict[str, Any] = {
        "issuer": public,
        "allowed_audiences": [
            f"{public}/mcp",
            *([f"{public}/sse", f"{public}/messages"] if legacy_sse else []),
        ],
        "upstreams": [upstream],
    }
    backend = {"name": "demo", "url": f"{mcp_origin}/mcp", "path": "/mcp", **(backend or {})}
    if legacy_sse:
        backend.update(sse_path="/sse", messages_path="/messages/")
    section.update(auth_server)
    server_section: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "public_url": public,
        "drain_timeout": "1s",
    }
    return load_config_data(
        {
            "server": server_section | (server or {}),
            "backends": [backend],
            "incoming_auth": {"type": "oidc", "oidc": {"issuer": public}},
            "auth_server": section,
        }
    )


def csrf_of(page: str) -> str:
    """The consent form's CSRF token."""
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, page
    return found[1]


class MemoryTokens(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


@dataclass
class Browser:
    """Follows the authorization redirect, fills the login form, and catches the redirect back
    to the client's (never contacted) loopback redirect URI."""

    http: aiohttp.ClientSession
    username: str = "alice"
    password: str = PASSWORD
    decision: str = "allow"
    consents: int = 0
    sign_ins: int = 0
    result: AuthorizationCodeResult | None = None

    async def sign_in(self, authorization_url: str) -> None:
        """Follow redirects; allow on the consent page, fill in the login page; stop at the
        redirect to the client."""
        self.sign_ins += 1
        url = authorization_url
        for _ in range(20):
            async with self.http.get(url, allow_redirects=False) as resp:
                if resp.status in (301, 302, 303):
                    url = urljoin(url, resp.headers["Location"])
                    if url.startswith("http://127.0.0.1:9/"):
                        self._capture(url)
                        return
                    continue
                assert resp.status == 200, await resp.text()
                page = await resp.text()
            request_id = re.search(r'name="request" value="([^"]+)"', page)
            assert request_id is not None, page
            if 'name="decision"' in page:  # the consent page
                self.consents += 1
                form = {"request": request_id[1], "csrf": csrf_of(page), "decision": self.decision}
                path = "/oauth/consent"
            else:
                form = {"request": request_id[1], "username": self.username, "password": self.password}
                path = "/oauth/login"
            async with self.http.post(urljoin(url, path), data=form, allow_redirects=False) as resp:
                assert resp.status == 303, await resp.text()
                url = urljoin(url, resp.headers["Location"])
            if url.startswith("http://127.0.0.1:9/"):
                self._capture(url)
                return
        raise AssertionError("the sign-in did not come back to the client")

    def _capture(self, location: str) -> None:
        query = parse_qs(urlsplit(location).query)
        assert "code" in query, location
        self.result = AuthorizationCodeResult(
            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
        )

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


def oauth_provider(server_url: str, browser: Browser, storage: MemoryTokens) -> OAuthClientProvider:
    metadata = OAuthClientMetadata(
        redirect_uris=["http://127.0.0.1:9/callback"],  # type: ignore[list-item]
        client_name="sidecar e2e test",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        server_url=server_url,
        client_metadata=metadata,
        storage=storage,
        redirect_handler=browser.sign_in,
        callback_handler=browser.callback,
    )


def oauth_http_client(provider: OAuthClientProvider) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(auth=provider, timeout=30)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
        b"="
    ).decode()


REDIRECT = "http://127.0.0.1:9/callback"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}


@dataclass
class RawClient:
    """A client driving the endpoints by hand, to try what a well-behaved SDK never would."""

    http: aiohttp.ClientSession
    base: str

    async def register(self, **metadata: Any) -> tuple[int, dict[str, Any]]:
        body = {"redirect_uris": [REDIRECT], "client_name": "raw", **metadata}
        async with self.http.post(f"{self.base}/oauth/register", json=body) as resp:
            return resp.status, dict(await resp.json())

    async def public_client(self) -> str:
        status, body = await self.register()
        assert status == 201, body
        return str(body["client_id"])

    def authorize_url(self, client_id: str, challenge: str | None, **params: str | None) -> str:
        query: dict[str, str | None] = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "state": "st-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "resource": f"{self.base}/mcp",
        }
        query.update(params)
        return f"{self.base}/oauth/authorize?" + urlencode({k: v for k, v in query.items() if v is not None})

    async def authorize(self, url: str) -> aiohttp.ClientResponse:
        resp = await self.http.get(url, allow_redirects=False)
        await resp.read()
        return resp

    async def code(
        self, client_id: str, challenge: str, *, expected_issuer: str | None = None, **params: str | None
    ) -> str:
        """Authorize and log in as alice; return the code from the redirect."""
        resp = await self.authorize(self.authorize_url(client_id, challenge, **params))
        assert resp.status == 302, await resp.text()
        login = urljoin(self.base, resp.headers["Location"])
        async with self.http.get(login) as page:
            request_id = re.search(r'name="request" value="([^"]+)"', await page.text())
        assert request_id is not None
        form = {"request": request_id[1], "username": "alice", "password": PASSWORD}
        async with self.http.post(f"{self.base}/oauth/login", data=form, allow_redirects=False) as done:
            assert done.status == 303, await done.text()
            location = done.headers["Location"]
        if location.startswith("/oauth/consent"):  # the first login of this client by alice
            location = await self.allow(location)
        query = parse_qs(urlsplit(location).query)
        assert query["iss"] == [expected_issuer or self.base]  # RFC 9207
        assert query["state"] == ["st-1"]
        return query["code"][0]

    async def allow(self, consent_path: str, decision: str = "allow") -> str:
        """Answer the consent page at ``consent_path``; where the browser goes next."""
        async with self.http.get(urljoin(self.base, consent_path)) as page:
            text = await page.text()
            assert page.status == 200, text
        request_id = parse_qs(urlsplit(consent_path).query)["request"][0]
        form = {"request": request_id, "csrf": csrf_of(text), "decision": decision}
        async with self.http.post(f"{self.base}/oauth/consent", data=form, allow_redirects=False) as done:
            assert done.status == 303, await done.text()
            return done.headers["Location"]

    async def token(self, form: dict[str, str], auth: str | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": auth} if auth else {}
        async with self.http.post(f"{self.base}/oauth/token", data=form, headers=headers) as resp:
            return resp.status, dict(await resp.json())

    async def exchange(
        self, client_id: str, code: str, verifier: str, **extra: str
    ) -> tuple[int, dict[str, Any]]:
        return await self.token(
            {
                "grant_type": "authorization_code",
                "client_id": client_id,
                "code": code,
                "redirect_uri": REDIRECT,
                "code_verifier": verifier,
                **extra,
            }
        )

    async def sign_in(self, **params: str | None) -> tuple[str, dict[str, Any]]:
        """A new public client, a full login as alice and the code exchanged: (client_id, tokens)."""
        client_id = await self.public_client()
        verifier, challenge = pkce_pair()
        status, tokens = await self.exchange(
            client_id, await self.code(client_id, challenge, **params), verifier
        )
        assert status == 200, tokens
        return client_id, tokens

    async def refresh(self, client_id: str, refresh_token: str, **extra: str) -> tuple[int, dict[str, Any]]:
        return await self.token(
            {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token, **extra}
        )

    async def revoke(self, client_id: str, token: str, **extra: str) -> int:
        """RFC 7009 revocation of ``token`` by its client; the status."""
        form = {"token": token, "client_id": client_id, **extra}
        async with self.http.post(f"{self.base}/oauth/revoke", data=form) as resp:
            return resp.status

    async def call_mcp(self, access_token: str) -> int:
        """The status of an MCP initialize request carrying ``access_token``."""
        async with self.http.post(
            f"{self.base}/mcp",
            headers={
                "Authorization": f"Bearer {access_token}",
                "Accept": "application/json, text/event-stream",
            },
            json=INITIALIZE,
        ) as resp:
            return resp.status


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[RawClient]:
    """A sidecar with ``settings``, and a raw OAuth client of it."""
    assert settings.server.public_url is not None
    async with (
        RunningSidecar(settings),
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        yield RawClient(http, settings.server.public_url)


@dataclass
class SignedIn:
    """A running Mode B sidecar and an official MCP client that signs in to it on first use."""

    sidecar: RunningSidecar
    url: str
    storage: MemoryTokens
    provider: OAuthClientProvider
    http_client: httpx2.AsyncClient

    def client(self) -> Client:
        return Client(streamable_http_client(self.url, http_client=self.http_client), mode="legacy")

    def access_claims(self) -> dict[str, Any]:
        assert self.storage.tokens is not None
        return dict(jwt.decode(self.storage.tokens.access_token, options={"verify_signature": False}))


@contextlib.asynccontextmanager
async def signed_in(settings: Settings, browser: Browser) -> AsyncIterator[SignedIn]:
    assert settings.server.public_url is not None
    url = f"{settings.server.public_url}/mcp"
    storage = MemoryTokens()
    provider = oauth_provider(url, browser, storage)
    async with RunningSidecar(settings) as sidecar, oauth_http_client(provider) as http_client:
        yield SignedIn(sidecar, url, storage, provider, http_client)
