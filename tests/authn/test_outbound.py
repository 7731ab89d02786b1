# SPDX-License-Identifier: Apache-2.0
"""The guarded outbound client against real servers on loopback (attack checklist §2, SSRF)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.outbound import (
    OutboundBadResponse,
    OutboundClient,
    OutboundError,
    OutboundPolicy,
    OutboundRefused,
    address_allowed,
)

OPEN = OutboundPolicy(allow_http=True, allow_private=True)


async def _doc(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True}, headers={"Cache-Control": "max-age=60"})


async def _redirect(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/doc")


async def _huge(_request: web.Request) -> web.Response:
    return web.Response(body=b"[" + b"1," * 400_000 + b"1]", content_type="application/json")


async def _slow(_request: web.Request) -> web.Response:
    await asyncio.sleep(5)
    return web.json_response({})


async def _html(_request: web.Request) -> web.Response:
    return web.Response(text="<html>login</html>", content_type="text/html")


async def _error(_request: web.Request) -> web.Response:
    return web.Response(status=500)


@pytest.fixture
async def server(aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]) -> TestServer:
    app = web.Application()
    for path, handler in (
        ("/doc", _doc),
        ("/redirect", _redirect),
        ("/huge", _huge),
        ("/slow", _slow),
        ("/html", _html),
        ("/error", _error),
    ):
        app.router.add_get(path, handler)
    return await aiohttp_server(app)


@pytest.fixture
async def client() -> AsyncIterator[OutboundClient]:
    outbound = OutboundClient(timeout=1)
    yield outbound
    await outbound.close()


async def test_fetch_allowed_when_policy_allows(server: TestServer, client: OutboundClient) -> None:
    document, headers = await client.get_json(f"http://127.0.0.1:{server.port}/doc", OPEN)
    assert document == {"ok": True}
    assert headers["Cache-Control"] == "max-age=60"


async def test_plain_http_refused_by_default(server: TestServer, client: OutboundClient) -> None:
    with pytest.raises(OutboundRefused, match="https is required"):
        await client.get_json(f"http://127.0.0.1:{server.port}/doc", OutboundPolicy(allow_private=True))


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "169.254.169.254", "10.0.0.1", "0.0.0.0"])
async def test_private_address_literals_refused(client: OutboundClient, host: str) -> None:
    with pytest.raises(OutboundRefused, match=r"not allowed|disallowed"):
        await client.get_json(f"http://{host}:9/jwks", OutboundPolicy(allow_http=True))


async def test_name_resolving_to_loopback_refused_at_connect(
    server: TestServer, client: OutboundClient
) -> None:
    """DNS rebinding: the check is on the address the resolver hands the connector."""
    with pytest.raises(OutboundRefused, match="localhost"):
        await client.get_json(f"http://localhost:{server.port}/doc", OutboundPolicy(allow_http=True))


async def test_redirects_not_followed(server: TestServer, client: OutboundClient) -> None:
    with pytest.raises(OutboundBadResponse, match="302"):
        await client.get_json(f"http://127.0.0.1:{server.port}/redirect", OPEN)


@pytest.mark.parametrize(
    ("path", "error", "match"),
    [
        ("/huge", OutboundBadResponse, "more than"),
        ("/html", OutboundBadResponse, "JSON"),
        ("/error", OutboundBadResponse, "500"),
        ("/slow", OutboundError, "could not be fetched"),
    ],
)
async def test_misbehaving_servers(
    server: TestServer, client: OutboundClient, path: str, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        await client.get_json(f"http://127.0.0.1:{server.port}{path}", OPEN)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("fd00:ec2::254", False),
        ("100.64.0.1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:8.8.8.8", True),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("fe80::1%eth0", False),
        ("not-an-ip", False),
    ],
)
def test_address_table(address: str, allowed: bool) -> None:
    assert address_allowed(address) is allowed
