# SPDX-License-Identifier: Apache-2.0
"""An SSE backend for the fan-out scenario. Streams are opened first and only get a
``: connected`` comment; ``POST /go?rounds=R`` then sends every open stream one event per
interval, R times, each carrying the time it was written (clients measure delivery delay) and an
id counting from 1 (clients count gaps as lost events). Keeping the events back until every
stream is open lets the benchmark measure the proxy at rest with all streams open, then relaying.

Run: ``python -m bench.sse_backend PORT INTERVAL``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator

import uvloop
from aiohttp import web

STREAMS: web.AppKey[set[web.StreamResponse]] = web.AppKey("streams")
BROADCASTS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("broadcasts")
INTERVAL: web.AppKey[float] = web.AppKey("interval")


async def events(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)
    await response.write(b": connected\n\n")
    streams: set[web.StreamResponse] = request.app[STREAMS]
    streams.add(response)
    try:
        await asyncio.Event().wait()  # until the client goes away (handler cancellation)
    finally:
        streams.discard(response)
    return response


async def broadcast(streams: set[web.StreamResponse], rounds: int, interval: float) -> None:
    for sequence in range(1, rounds + 1):
        await asyncio.sleep(interval)
        for response in list(streams):
            payload = f"id: {sequence}\ndata: {time.time():.6f}\n\n".encode()
            try:
                await response.write(payload)
            except ConnectionError:
                streams.discard(response)


async def go(request: web.Request) -> web.Response:
    rounds = int(request.query.get("rounds", "1"))
    task = asyncio.create_task(broadcast(request.app[STREAMS], rounds, request.app[INTERVAL]))
    request.app[BROADCASTS].add(task)
    task.add_done_callback(request.app[BROADCASTS].discard)
    return web.Response(text=f"{len(request.app[STREAMS])}\n")


def build(interval: float) -> web.Application:
    app = web.Application()
    app[STREAMS], app[BROADCASTS], app[INTERVAL] = set(), set(), interval

    async def cancel_broadcasts(app: web.Application) -> AsyncIterator[None]:
        yield
        for task in app[BROADCASTS]:
            task.cancel()

    app.cleanup_ctx.append(cancel_broadcasts)
    app.router.add_get("/events", events)
    app.router.add_post("/go", go)
    return app


if __name__ == "__main__":
    port, interval = int(sys.argv[1]), float(sys.argv[2])
    web.run_app(
        build(interval),
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        loop=uvloop.new_event_loop(),
        handler_cancellation=True,
        backlog=4096,
    )
