# SPDX-License-Identifier: Apache-2.0
"""The floor of the stack: the smallest aiohttp reverse proxy (one shared ClientSession, no
checks, no logs, no metrics) on uvloop, to show what the framework itself costs per request.

Run: ``python -m bench.bare_proxy PORT BACKEND_URL``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import aiohttp
import uvloop
from aiohttp import web


def build(backend: str) -> web.Application:
    app = web.Application()
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def session(app: web.Application) -> AsyncIterator[None]:
        app[session_key] = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), auto_decompress=False
        )
        yield
        await app[session_key].close()

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        async with request.app[session_key].request(
            request.method, backend, data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            return web.Response(status=resp.status, body=await resp.read(), content_type=resp.content_type)

    app.cleanup_ctx.append(session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


if __name__ == "__main__":
    port, backend = int(sys.argv[1]), sys.argv[2]
    web.run_app(
        build(backend), host="127.0.0.1", port=port, access_log=None, print=None, loop=uvloop.new_event_loop()
    )
