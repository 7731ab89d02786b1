# SPDX-License-Identifier: Apache-2.0
"""Helpers for Mode B tests: a sidecar with the embedded authorization server, and a headless
"browser" that completes the login the way a person would."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import httpx2
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from sidecar.config import Settings, load_config_data
from sidecar.config.passwords import hash_password
from tests.support import free_port

PASSWORD = "wonderland"
PASSWORD_HASH = hash_password(PASSWORD)


def mode_b_settings(
    mcp_origin: str, *, upstream: dict[str, Any] | None = None, **auth_server: Any
) -> Settings:
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
        "allowed_audiences": [f"{public}/mcp"],
        "upstreams": [upstream],
    }
    section.update(auth_server)
    return load_config_data(
        {
            "server": {"host": "127.0.0.1", "port": port, "public_url": public, "drain_timeout": "1s"},
            "backends": [{"name": "demo", "url": f"{mcp_origin}/mcp", "path": "/mcp"}],
            "incoming_auth": {"type": "oidc", "oidc": {"issuer": public}},
            "auth_server": section,
        }
    )


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
    result: AuthorizationCodeResult | None = None

    async def sign_in(self, authorization_url: str) -> None:
        url = authorization_url
        for _ in range(10):
            async with self.http.get(url, allow_redirects=False) as resp:
                if resp.status in (301, 302, 303):
                    url = urljoin(url, resp.headers["Location"])
                    if url.startswith("http://127.0.0.1:9/"):
                        self._capture(url)
                        return
                    continue
                assert resp.status == 200, await resp.text()
                page = await resp.text()
                break
        request_id = re.search(r'name="request" value="([^"]+)"', page)
        assert request_id is not None, page
        form = {"request": request_id[1], "username": self.username, "password": self.password}
        async with self.http.post(urljoin(url, "/oauth/login"), data=form, allow_redirects=False) as resp:
            assert resp.status == 303, await resp.text()
            self._capture(resp.headers["Location"])

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
