# SPDX-License-Identifier: Apache-2.0
"""A plain HTTP backend for the proxy's HTTP-level tests (header rules, streaming, failures).

MCP behaviour is tested against the real SDK server; this one shows what the proxy did to the
bytes: it echoes what it received and streams with controlled timing.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class EchoState:
    disconnects: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    stream_started: asyncio.Event = field(default_factory=asyncio.Event)
    slow_started: asyncio.Event = field(default_factory=asyncio.Event)
    slow_in_flight: int = 0
    proceed: asyncio.Event = field(default_factory=asyncio.Event)  # the gate of the gated handlers


STATE = web.AppKey("state", EchoState)


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.raw_path,
            "headers": [[k, v] for k, v in request.headers.items()],
            "body": body.decode("utf-8", "replace"),
        },
        headers={
            "Connection": "keep-alive, X-Hop",
            "X-Hop": "secret-hop",
            "Keep-Alive": "timeout=5",
            "Mcp-Session-Id": "sess-1",
        },
    )


async def gated_sse(request: web.Request) -> web.StreamResponse:
    """Event 1, then event 2 only once the test sets ``proceed``, end."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    await response.write(b": keep-alive\n\n")
    await response.write(b"id: 1\ndata: first\n\n")
    await request.app[STATE].proceed.wait()
    await response.write(b"id: 2\ndata: second\n\n")
    await response.write_eof()
    return response


async def hold_sse(request: web.Request) -> web.StreamResponse:
    """One event, then hold the stream open until the peer goes away; record that."""
    state = request.app[STATE]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"data: hello\n\n")
    state.stream_started.set()
    try:
        await asyncio.sleep(3600)
    finally:
        state.disconnects.put_nowait(request.path)
    return response


async def crash_sse(request: web.Request) -> web.StreamResponse:
    """One event, then, once the test has it and sets ``proceed``, the connection is dropped
    without ending the chunked body."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"data: before-crash\n\n")
    await request.app[STATE].proceed.wait()
    assert request.transport is not None
    request.transport.abort()
    return response


async def endpoint_sse(request: web.Request) -> web.StreamResponse:
    """A legacy SSE stream announcing an absolute message URL, split across writes."""
    origin = f"http://{request.host}"
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"event: endp")
    await response.write(f"oint\r\ndata: {origin}/messages/?session_id=abc\r\n\r\n".encode())
    await response.write(b'event: message\ndata: {"endpoint": "untouched"}\n\n')
    await response.write_eof()
    return response


async def slow(request: web.Request) -> web.Response:
    state = request.app[STATE]
    state.slow_started.set()
    state.slow_in_flight += 1
    try:
        await asyncio.sleep(float(request.query.get("seconds", "1")))
    finally:
        state.slow_in_flight -= 1
    return web.json_response({"slept": True})


async def gzip_body(_request: web.Request) -> web.Response:
    return web.Response(
        body=b"\x1f\x8b-not-really-gzip",
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )


async def big(request: web.Request) -> web.Response:
    size = int(request.query.get("size", str(1024 * 1024)))
    return web.Response(body=b"x" * size, content_type="application/octet-stream")


def build_echo_app() -> web.Application:
    app = web.Application()
    app[STATE] = EchoState()
    app.router.add_route("*", "/mcp", echo)
    app.router.add_route("*", "/mcp/{tail:.*}", echo)
    app.router.add_route("*", "/messages/", echo)
    app.router.add_get("/gated-sse", gated_sse)
    app.router.add_get("/hold-sse", hold_sse)
    app.router.add_get("/crash-sse", crash_sse)
    app.router.add_get("/sse", endpoint_sse)
    app.router.add_get("/gzip", gzip_body)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    return app


def headers_of(payload: dict[str, object]) -> dict[str, str]:
    """Echoed headers as a lower-cased dict (joined when repeated)."""
    out: dict[str, str] = {}
    for name, value in payload["headers"]:  # type: ignore[attr-defined]
        key = str(name).lower()
        out[key] = f"{out[key]}, {value}" if key in out else str(value)
    return out


__all__ = ["STATE", "EchoState", "build_echo_app", "headers_of", "json"]
