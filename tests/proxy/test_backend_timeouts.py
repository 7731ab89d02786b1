# SPDX-License-Identifier: Apache-2.0
"""The backend pool's timers: a backend that never answers, or stops mid-body, or goes quiet on
a stream, is cut after the configured wait, with the answer the operations guide promises."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from tests.proxy.conftest import StartSidecar
from tests.support import metric_samples

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


Proxied = Callable[..., Awaitable[str]]


@pytest.fixture
async def proxied(start_sidecar: StartSidecar) -> AsyncIterator[Proxied]:
    """``proxied(script, name, **backend_settings)``: a backend on loopback that reads a request
    head and runs ``script``, behind a sidecar at /b; returns the sidecar's URL."""
    servers: list[asyncio.Server] = []
    writers: list[asyncio.StreamWriter] = []

    async def start(script: Script, name: str, **settings: str) -> str:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writers.append(writer)
            await reader.readuntil(b"\r\n\r\n")
            await script(reader, writer)

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        sidecar = await start_sidecar(
            [{"name": name, "url": f"http://127.0.0.1:{port}/", "path": "/b", **settings}]
        )
        return sidecar.url

    yield start
    for writer in writers:
        writer.close()
    for server in servers:
        server.close()
        await server.wait_closed()


async def _never(_reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
    await asyncio.Event().wait()


async def test_backend_that_never_answers_gets_504_after_read_timeout(
    proxied: Proxied, http: aiohttp.ClientSession
) -> None:
    url = await proxied(_never, "slow", read_timeout="300ms")
    request = b'{"jsonrpc":"2.0","id":7,"method":"tools/list"}'
    async with asyncio.timeout(10):
        async with http.post(f"{url}/b", data=request) as resp:
            body = await resp.json()
    assert resp.status == 504
    assert body["id"] == 7  # a JSON-RPC request gets a JSON-RPC error
    assert body["error"]["code"] == -32002
    samples = await metric_samples(http, url)
    assert samples[("mcp_sidecar_backend_errors_total", (("backend", "slow"), ("reason", "timeout")))] == 1


async def test_backend_silent_mid_body_cuts_the_client_connection(
    proxied: Proxied, http: aiohttp.ClientSession
) -> None:
    """A large response whose body stops: after read_timeout the client connection is dropped,
    so the truncated body can never look complete."""

    async def stall(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 100_000)
        await writer.drain()
        await asyncio.Event().wait()

    url = await proxied(stall, "stall", read_timeout="300ms")
    async with asyncio.timeout(10), http.get(f"{url}/b/file") as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()


async def test_small_response_stopping_mid_body_is_a_502(
    proxied: Proxied, http: aiohttp.ClientSession
) -> None:
    """A small response is read whole before anything is sent, so a stall there is still a 502."""

    async def stall(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        await asyncio.Event().wait()

    url = await proxied(stall, "stall", read_timeout="300ms")
    async with asyncio.timeout(10), http.get(f"{url}/b/x") as resp:
        assert resp.status == 502
        assert (await resp.json())["error"] == "bad_gateway"


async def test_quiet_event_stream_ends_after_sse_read_timeout(
    proxied: Proxied, http: aiohttp.ClientSession
) -> None:
    async def one_event(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"d\r\ndata: hello\n\n\r\n"
        )
        await writer.drain()
        await asyncio.Event().wait()

    url = await proxied(one_event, "sse", sse_read_timeout="300ms")
    async with asyncio.timeout(10), http.get(f"{url}/b") as resp:
        assert resp.status == 200
        assert await resp.content.readuntil(b"\n\n") == b"data: hello\n\n"
        # The stream goes quiet: the sidecar ends it (SSE clients reconnect with Last-Event-ID).
        assert await resp.content.read() == b""


async def test_endless_response_head_is_a_502_at_once_not_at_the_read_timeout(
    proxied: Proxied, http: aiohttp.ClientSession
) -> None:
    """SECURITY: a field value that never ends is refused past 64 KiB of head (llhttp would keep
    growing one buffer for it until the 5-minute read timeout; found by review)."""

    async def endless(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nX-Big: ")
        for _ in range(64):
            writer.write(b"a" * 16384)
            await writer.drain()
        await asyncio.Event().wait()

    url = await proxied(endless, "big")
    async with asyncio.timeout(10), http.get(f"{url}/b/x") as resp:
        assert resp.status == 502
    samples = await metric_samples(http, url)
    assert samples[("mcp_sidecar_backend_errors_total", (("backend", "big"), ("reason", "protocol")))] == 1


async def test_a_slow_upload_is_not_cut_by_the_read_timeout(
    proxied: Proxied, http: aiohttp.ClientSession
) -> None:
    """read_timeout is the backend's time to answer, counted once the client's body is sent; a
    client pacing a streamed upload slower than that still gets its answer (found by review)."""
    received = bytearray()

    async def collect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (size := int((await reader.readline()).strip(), 16)) > 0:
            received.extend(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readexactly(2)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    url = await proxied(collect, "up", read_timeout="300ms")

    async def paced() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * 100_000
            await asyncio.sleep(0.25)  # the pace is what is tested: 0.75 s of upload in all

    async with asyncio.timeout(10), http.post(f"{url}/b/up", data=paced()) as resp:
        assert (resp.status, await resp.read()) == (200, b"ok")
    assert len(received) == 300_000


async def test_a_body_with_a_final_coding_other_than_chunked_ends_at_the_close(
    proxied: Proxied, http: aiohttp.ClientSession
) -> None:
    """RFC 9112 §6.3 rule 4: Transfer-Encoding without chunked last is read until the close —
    a complete body, not a disconnect (found by review)."""

    async def until_close(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n" + b"z" * 70_000)
        await writer.drain()
        writer.close()

    url = await proxied(until_close, "te")
    async with asyncio.timeout(10), http.get(f"{url}/b/x") as resp:
        assert (resp.status, await resp.read()) == (200, b"z" * 70_000)
