# SPDX-License-Identifier: Apache-2.0
"""An SSE backend for the fan-out scenario: every stream gets one event per interval, carrying
the time it was written, so clients can measure delivery delay.

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


def build(interval: float) -> web.Application:
    app = web.Application()
    app[STREAMS] = set()

    async def broadcast(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            sequence = 0
            while True:
                await asyncio.sleep(interval)
                sequence += 1
                streams: set[web.StreamResponse] = app[STREAMS]
                for response in list(streams):
                    payload = f"id: {sequence}\ndata: {time.time():.6f}\n\n".encode()
                    try:
                        await response.write(payload)
                    except ConnectionError:
                        streams.discard(response)

        task = asyncio.create_task(loop())
        yield
        task.cancel()

    app.cleanup_ctx.append(broadcast)
    app.router.add_get("/events", events)
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
