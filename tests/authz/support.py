# SPDX-License-Identifier: Apache-2.0
"""A sidecar with Cedar policies in front of the catalog MCP server (``tests/servers/catalog.py``,
fixtures ``catalog_sse`` and ``catalog_json``), signed tokens for alice (group ops) and bob, and
the official SDK client carrying them."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sidecar.app import create_app
from sidecar.authn.keys import StaticKeyProvider
from sidecar.config import Settings, load_config_data
from sidecar.observability.audit import Sink
from tests.authn.tokens import EC_KEY, sign, verification_key
from tests.support import RunningSidecar

ISSUER = "https://issuer.invalid"
PUBLIC = "https://mcp.example.com"
POLICIES = [
    'permit(principal, action == Action::"call_tool", resource == Tool::"add");',
    'permit(principal in THVGroup::"ops", action == Action::"call_tool", resource == Tool::"deploy");',
    # In a list, items are decided without arguments: the tool is shown, each call is decided.
    """permit(principal, action == Action::"call_tool", resource == Tool::"read_file")
       when { !(context has arg_path) || context.arg_path like "/public/*" };""",
    'permit(principal, action == Action::"get_prompt", resource == Prompt::"greet");',
    'permit(principal in THVGroup::"ops", action == Action::"get_prompt", resource == Prompt::"incident");',
    'permit(principal, action == Action::"read_resource", resource == Resource::"docs://public");',
    # A template is listed by its uriTemplate; a read is decided on the concrete URI.
    """permit(principal, action == Action::"read_resource", resource)
       when { resource.name == "files://public/{name}" || resource.name like "files://public/*" };""",
]


def token(sub: str, **claims: Any) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": f"{PUBLIC}/mcp", "sub": sub, "iat": now, "exp": now + 300, **claims}
    return sign(payload, EC_KEY, "ES256", kid="as-key-1")


ALICE = {"Authorization": f"Bearer {token('alice', groups=['ops'])}"}
BOB = {"Authorization": f"Bearer {token('bob')}"}


def authz_settings(
    origin: str,
    policies: list[str] | None = None,
    *,
    rate_limits: dict[str, Any] | None = None,
    audit: dict[str, Any] | None = None,
    **authz: Any,
) -> Settings:
    backend = {
        "name": "catalog",
        "url": f"{origin}/mcp",
        "path": "/mcp",
        "sse_path": "/sse",
        "messages_path": "/messages/",
    }
    incoming: dict[str, Any] = {
        "type": "oidc",
        "oidc": {"issuer": ISSUER},
        "authz": {"type": "cedar", "policies": POLICIES if policies is None else policies, **authz},
    }
    if authz.get("type") == "none":
        incoming["authz"] = {"type": "none"}
    if rate_limits is not None:
        incoming["rate_limits"] = rate_limits
    raw = {
        "server": {"host": "127.0.0.1", "port": 0, "drain_timeout": "1s", "public_url": PUBLIC},
        "backends": [backend],
        "incoming_auth": incoming,
        "audit": audit or {},
    }
    return load_config_data(raw)


@asynccontextmanager
async def running(
    origin: str, policies: list[str] | None = None, *, audit_sink: Sink | None = None, **options: Any
) -> AsyncIterator[RunningSidecar]:
    """A sidecar with the policies in front of ``origin``, trusting the test signing key."""
    settings = authz_settings(origin, policies, **options)
    keys = StaticKeyProvider([verification_key(EC_KEY, "as-key-1")])
    app = create_app(settings, key_provider=keys, audit_sink=audit_sink)
    async with RunningSidecar(settings, app) as sidecar:
        yield sidecar


async def seen(http: aiohttp.ClientSession, origin: str) -> list[str]:
    """What the catalog server ran, asked of the server itself."""
    async with http.get(f"{origin}/seen") as response:
        result: list[str] = await response.json()
        return result


@asynccontextmanager
async def sdk(url: str, headers: dict[str, str], mode: str) -> AsyncIterator[Client]:
    """The official client on the streamable HTTP transport, in ``mode`` (an MCP era)."""
    async with httpx2.AsyncClient(headers=headers) as http_client:
        transport = streamable_http_client(url, http_client=http_client)
        async with Client(transport, mode=mode) as client:
            yield client
