# SPDX-License-Identifier: Apache-2.0
"""Helpers for outgoing-auth tests in Mode B: a user signed in through real upstream providers,
and what a backend (the echo server) received."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.authn.idp import Idp
from tests.authserver.flow import INITIALIZE, Browser, RawClient, pkce_pair
from tests.authserver.flow import oidc_upstream as shared_oidc_upstream


def oidc_upstream(idp: Idp, name: str = "corp") -> dict[str, Any]:
    """The provider process as an OIDC upstream that grants refresh tokens (for outgoing auth)."""
    return shared_oidc_upstream(idp.issuer, name, scopes=["openid", "offline_access"])


async def sign_in(browser: Browser, base: str) -> str:
    """A new public client, a login through the browser (consent, upstream legs), and the code
    exchanged: the sidecar's access token."""
    raw = RawClient(browser.http, base)
    client_id = await raw.public_client()
    verifier, challenge = pkce_pair()
    await browser.sign_in(raw.authorize_url(client_id, challenge))
    code = await browser.callback()
    status, tokens = await raw.exchange(client_id, code.code, verifier)
    assert status == 200, tokens
    return str(tokens["access_token"])


async def call_backend(http: aiohttp.ClientSession, base: str, access_token: str) -> aiohttp.ClientResponse:
    """An MCP request to /mcp with the sidecar's token; the response is read."""
    resp = await http.post(
        f"{base}/mcp",
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json, text/event-stream"},
        json=INITIALIZE,
    )
    await resp.read()
    return resp


async def backend_bearer(http: aiohttp.ClientSession, base: str, access_token: str) -> str:
    """The bearer token the echo backend received for one request."""
    resp = await call_backend(http, base, access_token)
    assert resp.status == 200, await resp.text()
    headers = (await resp.json())["headers"]
    [value] = [value for name, value in headers if name.lower() == "authorization"]
    assert value.startswith("Bearer ")
    return str(value.removeprefix("Bearer "))
