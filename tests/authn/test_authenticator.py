# SPDX-License-Identifier: Apache-2.0
"""Per-backend resource policy and identity headers."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp import AiohttpClient

from sidecar.authn.authenticator import Authenticator, resource_policy
from sidecar.authn.keys import StaticKeyProvider
from sidecar.authn.validator import Identity, TokenValidator
from sidecar.config import BackendSettings
from sidecar.config.schema import IdentityHeader
from sidecar.observability.metrics import Metrics
from tests.authn.tokens import RSA_KEY, claims, oidc_settings, sign, verification_key

BACKEND = BackendSettings(name="a", url="http://127.0.0.1:1/mcp", path="/mcp/", required_scopes=("tools",))


def test_resource_and_default_audience_come_from_public_url() -> None:
    policy = resource_policy(oidc_settings(required_scopes=("read",)), "https://mcp.example.com", BACKEND)
    assert policy.resource == "https://mcp.example.com/mcp"
    assert policy.metadata_urls == {
        "/mcp": "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    }
    assert policy.audiences == {"https://mcp.example.com/mcp"}
    assert policy.required_scopes == ("read", "tools")


def test_configured_audience_replaces_the_default() -> None:
    policy = resource_policy(oidc_settings(audience="api://mcp"), "https://mcp.example.com", BACKEND)
    assert policy.audiences == {"api://mcp"}


def test_offline_access_never_in_challenges() -> None:
    """MCP 2026-07-28: offline_access is not advertised by the resource."""
    backend = BackendSettings(name="a", url="http://127.0.0.1:1/mcp", path="/mcp")
    policy = resource_policy(
        oidc_settings(scopes_supported=("read", "offline_access")), "https://m.example", backend
    )
    assert policy.challenge_scopes == ("read",)


@pytest.mark.parametrize(
    ("claim", "header"),
    [
        ("alice", "alice"),
        (["admins", "ops", {"x": 1}], "admins,ops"),
        (42, "42"),
        (True, "true"),
        ("evil\r\nX-Admin: 1", None),
        ("caf\u00e9", None),
        ({"nested": "x"}, None),
        ("", None),
    ],
)
def test_identity_headers_carry_printable_ascii_only(claim: Any, header: str | None) -> None:
    settings = oidc_settings(identity_headers=(IdentityHeader(header="X-MCP-Subject", claim="who"),))
    authenticator = Authenticator(
        settings, "https://m.example", (BACKEND,), TokenValidator(settings), Metrics()
    )
    identity = Identity(subject="s", scopes=frozenset(), claims={"who": claim}, expires_at=0, source="local")
    assert authenticator.identity_headers(identity).get("X-MCP-Subject") == header
    assert authenticator.identity_header_names == {"x-mcp-subject"}


@pytest.mark.parametrize("keep", [True, False])
async def test_the_token_rides_on_the_identity_only_when_kept(
    aiohttp_client: AiohttpClient, keep: bool
) -> None:
    """Token exchange asks for the client's token (``keep_token``); for any other strategy the
    identity carries none, first verified or from the cache."""
    settings = oidc_settings()
    validator = TokenValidator(settings, local=StaticKeyProvider([verification_key(RSA_KEY, "rsa-1")]))
    backend = BackendSettings(name="a", url="http://127.0.0.1:1/mcp", path="/mcp")
    authenticator = Authenticator(settings, "https://mcp.example.com", (backend,), validator, Metrics())
    token = sign(claims())
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        identity = await authenticator.authenticate(request, "a", keep_token=keep)
        seen.append(identity.token)
        return web.Response(text=identity.source)

    app = web.Application()
    app.router.add_get("/mcp", handler)
    client = await aiohttp_client(app)
    sources = []
    for _ in range(2):
        async with client.get("/mcp", headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200
            sources.append(await resp.text())
    assert sources == ["local", "cache"]
    assert seen == ([token, token] if keep else [None, None])
