# SPDX-License-Identifier: Apache-2.0
"""No response tells the client which Python and aiohttp versions answer it (``server.server_header``)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sidecar.config import ConfigError, Settings, load_config_data
from tests.authserver.flow import mode_b_settings
from tests.support import RunningSidecar, free_port, settings_for


def _echo_settings(echo_server: TestServer, **server: Any) -> Settings:
    return settings_for(
        [{"name": "echo", "url": f"http://127.0.0.1:{echo_server.port}/", "path": "/b"}], **server
    )


async def _server_headers(http: aiohttp.ClientSession, method: str, url: str) -> list[str]:
    async with http.request(method, url) as resp:
        await resp.read()
        return resp.headers.getall("Server", [])


async def _raw_server_headers(port: int, request: bytes) -> list[str]:
    """Send bytes aiohttp's parser rejects; the Server headers of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    writer.close()
    await writer.wait_closed()
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].split(" ")[1] == "400"
    return [line.split(":", 1)[1].strip() for line in lines[1:] if line.lower().startswith("server:")]


async def test_no_response_reveals_the_server_software_by_default(
    echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """Proxied (the backend's own Server too), error, metrics and health responses carry no Server."""
    async with http.get(f"http://127.0.0.1:{echo_server.port}/mcp") as direct:
        assert "aiohttp" in direct.headers["Server"]  # the backend does send one
    async with RunningSidecar(_echo_settings(echo_server)) as sidecar:
        for method, path in [
            ("GET", "/b/mcp"),  # proxied
            ("GET", "/nowhere"),  # 404 from the router
            ("DELETE", "/health"),  # 405
            ("GET", "/metrics"),
            ("GET", "/health"),
        ]:
            assert await _server_headers(http, method, f"{sidecar.url}{path}") == [], path


async def test_protocol_error_has_no_server_header(echo_server: TestServer) -> None:
    """A request rejected by aiohttp's parser, before any routing, is answered without Server."""
    async with RunningSidecar(_echo_settings(echo_server)) as sidecar:
        assert await _raw_server_headers(sidecar.sidecar.ports[0], b"GET / HTTP/1.1\r\nHost\r\n\r\n") == []


async def test_metrics_port_sends_no_server_header(
    echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """The separate metrics listener follows the same rule, for answers and for protocol errors."""
    metrics_port = free_port()
    async with RunningSidecar(_echo_settings(echo_server, metrics_port=metrics_port)):
        assert await _server_headers(http, "GET", f"http://127.0.0.1:{metrics_port}/metrics") == []
        assert await _raw_server_headers(metrics_port, b"GET / HTTP/1.1\r\nHost\r\n\r\n") == []


async def test_authorization_server_responses_carry_no_server_header(
    echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """Mode B: metadata, JWKS, token errors and pages carry no Server header either."""
    settings = mode_b_settings(f"http://127.0.0.1:{echo_server.port}")
    async with RunningSidecar(settings) as sidecar:
        for method, path in [
            ("GET", "/.well-known/oauth-authorization-server"),
            ("GET", "/.well-known/jwks.json"),
            ("POST", "/oauth/token"),  # invalid_request
            ("GET", "/oauth/authorize"),  # error page
            ("POST", "/mcp"),  # 401 from the bearer check
        ]:
            assert await _server_headers(http, method, f"{sidecar.url}{path}") == [], path


async def test_configured_server_header_replaces_every_other(
    echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """With ``server.server_header`` set, that value alone is sent, also over a backend's own."""
    settings = _echo_settings(echo_server, server_header="mcp-sidecar")
    async with RunningSidecar(settings) as sidecar:
        for path in ("/b/mcp", "/nowhere", "/metrics"):
            assert await _server_headers(http, "GET", f"{sidecar.url}{path}") == ["mcp-sidecar"], path
        assert await _raw_server_headers(sidecar.sidecar.ports[0], b"GET / HTTP/1.1\r\nHost\r\n\r\n") == [
            "mcp-sidecar"
        ]


@pytest.mark.parametrize(
    "value", ["mcp\r\nSet-Cookie: a=b", "mcp\nx", " mcp", "mcp ", "mcp\x00", "mcp\u00e9"]
)
def test_server_header_that_would_break_the_response_head_is_a_config_error(value: str) -> None:
    """CR, LF, control or non-ASCII characters and outer spaces are refused, naming the key."""
    with pytest.raises(ConfigError) as caught:
        load_config_data(
            {
                "server": {"server_header": value},
                "backends": [{"name": "a", "url": "http://127.0.0.1:3000/mcp", "path": "/mcp"}],
            }
        )
    assert "server.server_header" in str(caught.value)
