# SPDX-License-Identifier: Apache-2.0
"""A peer Python MCP proxy for scenario 2: FastMCP's proxy (``fastmcp.server.create_proxy``)
serving streamable HTTP (stateless, JSON responses, as the SDK server behind it does) in front of
the benchmark's MCP server, checking the same JWTs as the sidecar does in (b) with FastMCP's own
``JWTVerifier`` (ES256, keys from the same JWKS URL, issuer and audience checked), in one of two
modes:

- ``fresh``: FastMCP's default and recommended setting, a new backend client session for every
  front request (it keeps callers' contexts apart). Each ``tools/call`` then costs the backend an
  ``initialize``, a ``notifications/initialized`` and the call itself, on a new connection through
  a new HTTP client, which also builds a new TLS context (the CA bundle loaded again, even for an
  ``http://`` backend);
- ``fresh-tls``: the same, with one TLS context made at start-up and handed to every new HTTP
  client (``StreamableHttpTransport(verify=...)``), the obvious tuning of the default;
- ``shared``: one backend session, connected at start-up, reused for every request (FastMCP logs
  that contexts may mix between callers): the peer's best case.

It runs in its own virtual environment (``bench/.peer-venv``, made by ``bench/run``), so that
FastMCP's pinned dependencies never change the sidecar's. ``mcp-proxy`` (PyPI) is not used: it
only bridges stdio to HTTP and HTTP to stdio; it has no HTTP-to-HTTP mode.

Run: ``bench/.peer-venv/bin/python -m bench.peer_mcp_proxy PORT fresh|fresh-tls|shared BACKEND_URL
JWKS_URL ISSUER AUDIENCE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import sys
from typing import Any

import uvloop
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport
from fastmcp.server import create_proxy
from fastmcp.server.auth.providers.jwt import JWTVerifier


def verifier(jwks: str, issuer: str, audience: str) -> Any:
    return JWTVerifier(jwks_uri=jwks, issuer=issuer, audience=audience, algorithm="ES256", base_url=audience)


async def serve(port: int, mode: str, backend: str, auth: Any) -> None:
    async with contextlib.AsyncExitStack() as stack:
        target: Any = backend
        if mode == "fresh-tls":
            target = StreamableHttpTransport(backend, verify=ssl.create_default_context())
        elif mode == "shared":
            target = await stack.enter_async_context(Client(backend))
        proxy = create_proxy(target, name="bench-peer", auth=auth)
        await proxy.run_http_async(
            show_banner=False,
            host="127.0.0.1",
            port=port,
            path="/mcp",
            log_level="error",
            json_response=True,
            stateless_http=True,
            uvicorn_config={"access_log": False},
        )


if __name__ == "__main__":
    uvloop.install()
    port, mode, backend = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    asyncio.run(serve(port, mode, backend, verifier(*sys.argv[4:7])))
