# SPDX-License-Identifier: Apache-2.0
"""Connection-level defences against slow and idle clients, over raw sockets."""

from __future__ import annotations

import asyncio

from aiohttp.test_utils import TestServer

from tests.proxy.conftest import StartSidecar, echo_backend


async def _closed(reader: asyncio.StreamReader, limit: float) -> bytes:
    """Read until the server closes the connection; ``TimeoutError`` if it stays open."""
    received = b""
    async with asyncio.timeout(limit):
        while chunk := await reader.read(4096):
            received += chunk
    return received


async def test_slow_header_client_is_disconnected(
    start_sidecar: StartSidecar, echo_server: TestServer
) -> None:
    """Slowloris: a client trickling its request head is cut off at header_timeout."""
    sidecar = await start_sidecar([echo_backend(echo_server)], header_timeout="500ms", idle_timeout="30s")
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.sidecar.ports[0])
    closed = asyncio.ensure_future(_closed(reader, 20))
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    # The attack itself: one byte of a header that never ends, every 50 ms, for as long as the
    # server listens. Only the head deadline ends it (idle_timeout is far off; a TimeoutError
    # from _closed means the connection was never cut).
    while not closed.done():
        writer.write(b"a")
        await asyncio.sleep(0.05)
    assert await closed == b""  # cut without an answer, not refused by the parser with a 400
    writer.close()


async def test_idle_keepalive_connection_is_closed(
    start_sidecar: StartSidecar, echo_server: TestServer
) -> None:
    sidecar = await start_sidecar([echo_backend(echo_server)], idle_timeout="500ms")
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.sidecar.ports[0])
    writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    first = await reader.readuntil(b"\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200")
    await _closed(reader, 5)  # raises TimeoutError if the idle connection stayed open
    writer.close()


async def test_complete_requests_on_one_connection_are_not_cut(
    start_sidecar: StartSidecar, echo_server: TestServer
) -> None:
    """The head deadline applies per request head, not to a busy keep-alive connection."""
    sidecar = await start_sidecar([echo_backend(echo_server)], header_timeout="300ms", idle_timeout="10s")
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.sidecar.ports[0])
    for _ in range(4):
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
        )
        await reader.readexactly(length)
        # Time between requests is the scenario: four heads spread over more than header_timeout.
        await asyncio.sleep(0.2)
    writer.close()


async def test_conflicting_framing_headers_are_rejected(
    start_sidecar: StartSidecar, echo_server: TestServer
) -> None:
    """Request smuggling: CL+TE together and duplicate Content-Length get 400 from the parser."""
    sidecar = await start_sidecar([echo_backend(echo_server)])
    start = b"POST /b/mcp HTTP/1.1\r\nHost: x\r\n"
    for head in (
        start + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        start + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcd",
        start + b"Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        start + b"Content-Length: 4\r\nX-Folded: a\r\n b\r\n\r\nabcd",
    ):
        reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.sidecar.ports[0])
        writer.write(head)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 5)
        assert status.split()[1] == b"400", status
        writer.close()


async def test_expect_100_continue_invites_the_body(
    start_sidecar: StartSidecar, echo_server: TestServer
) -> None:
    sidecar = await start_sidecar([echo_backend(echo_server)])
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.sidecar.ports[0])
    writer.write(b"POST /b/mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    await writer.drain()
    assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).startswith(b"HTTP/1.1 100 Continue")
    writer.write(b"{}")
    await writer.drain()
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
    writer.close()
