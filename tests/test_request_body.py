# SPDX-License-Identifier: Apache-2.0
"""The one bounded request-body reader: capped by bytes read whatever the framing, a deadline
giving 408, each caller (proxy, authorization server) answering in its own shape."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol
from aiohttp.test_utils import TestServer
from hypothesis import given
from hypothesis import strategies as st

from sidecar.config.values import parse_duration
from sidecar.request_body import BodyIncomplete, BodyTooLarge, BoundedBody
from tests.authserver.flow import mode_b_settings
from tests.support import RunningSidecar, settings_for


def _reader(chunks: list[bytes]) -> StreamReader:
    """A real aiohttp StreamReader holding ``chunks``, then the end of the body."""
    loop = asyncio.get_running_loop()
    content = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    for chunk in chunks:
        content.feed_data(chunk)
    content.feed_eof()
    return content


async def _read(chunks: list[bytes], declared: int | None, limit: int, *, stream: bool) -> bytes:
    body = BoundedBody(_reader(chunks), declared=declared, limit=limit, timeout=5)
    if not stream:
        return await body.read()
    return b"".join([chunk async for chunk in body])


@given(
    chunks=st.lists(st.binary(min_size=1, max_size=64), max_size=12),
    limit=st.integers(min_value=0, max_value=400),
    lie=st.sampled_from([None, -1, 0, 1]),
    stream=st.booleans(),
)
def test_body_is_capped_by_bytes_read_whatever_the_declared_length(
    chunks: list[bytes], limit: int, lie: int | None, stream: bool
) -> None:
    """Whole when within the limit and as long as declared; BodyTooLarge past the limit (a
    declared length is no excuse); BodyIncomplete when shorter than declared."""
    total = sum(map(len, chunks))
    declared = None if lie is None else max(total + lie, 0)

    async def check() -> None:
        if (declared is not None and declared > limit) or total > limit:
            with pytest.raises(BodyTooLarge):
                await _read(chunks, declared, limit, stream=stream)
        elif declared is not None and total < declared:
            with pytest.raises(BodyIncomplete):
                await _read(chunks, declared, limit, stream=stream)
        else:
            assert await _read(chunks, declared, limit, stream=stream) == b"".join(chunks)

    asyncio.run(check())


async def _exchange(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """Send a raw request (the body may be short of its Content-Length); the status and JSON body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head + body)
    await writer.drain()
    async with asyncio.timeout(10):
        response_head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        length = next(
            int(line.split(":", 1)[1])
            for line in response_head.split("\r\n")
            if line.lower().startswith("content-length:")
        )
        payload = await reader.readexactly(length)
    writer.close()
    await writer.wait_closed()
    return int(response_head.split(" ")[1]), json.loads(payload)


def _proxy(echo_server: TestServer, **server: Any) -> RunningSidecar:
    backend = {"name": "echo", "url": f"http://127.0.0.1:{echo_server.port}/", "path": "/b"}
    return RunningSidecar(settings_for([backend], **server))


async def test_proxy_refuses_a_declared_length_over_the_limit_before_reading(echo_server: TestServer) -> None:
    """413 at once for a Content-Length over ``server.max_request_body``, no body byte sent."""
    async with _proxy(echo_server, max_request_body="1KiB", idle_timeout="30s") as sidecar:
        status, body = await _exchange(
            sidecar.sidecar.ports[0], b"POST /b/mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 4096\r\n\r\n"
        )
    assert (status, body["error"]) == (413, "request_too_large")


async def test_proxy_answers_408_when_a_small_body_stops_arriving(echo_server: TestServer) -> None:
    """A buffered body that does not arrive whole within ``server.idle_timeout``: 408."""
    async with _proxy(echo_server, idle_timeout="300ms") as sidecar:
        status, body = await _exchange(
            sidecar.sidecar.ports[0], b"POST /b/mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", b"{}"
        )
    assert (status, body["error"]) == (408, "request_timeout")


async def test_proxy_answers_408_when_a_streamed_body_stops_arriving(echo_server: TestServer) -> None:
    """A chunked body whose next chunk does not come within ``server.idle_timeout``: 408."""
    async with _proxy(echo_server, idle_timeout="300ms") as sidecar:
        status, body = await _exchange(
            sidecar.sidecar.ports[0],
            b"POST /b/mcp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"2\r\n{}\r\n",
        )
    assert (status, body["error"]) == (408, "request_timeout")


def _mode_b(echo_server: TestServer, idle_timeout: str = "30s") -> RunningSidecar:
    settings = mode_b_settings(f"http://127.0.0.1:{echo_server.port}")
    server = replace(settings.server, idle_timeout=parse_duration(idle_timeout))
    return RunningSidecar(replace(settings, server=server))


_FORM_HEAD = b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"


async def test_token_endpoint_caps_a_chunked_form_by_bytes_read(echo_server: TestServer) -> None:
    """A chunked form past 16 KiB, which declares no length, is refused as invalid_request."""
    chunk = b"a=" + b"x" * 4094
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    async with _mode_b(echo_server) as sidecar:
        status, body = await _exchange(
            sidecar.sidecar.ports[0], _FORM_HEAD + b"Transfer-Encoding: chunked\r\n\r\n", chunks
        )
    assert (status, body["error"]) == (400, "invalid_request")
    assert "too large" in body["error_description"]


async def test_token_endpoint_answers_408_when_the_form_stops_arriving(echo_server: TestServer) -> None:
    """A form that does not arrive whole within ``server.idle_timeout``: 408 in the OAuth shape."""
    async with _mode_b(echo_server, idle_timeout="300ms") as sidecar:
        status, body = await _exchange(
            sidecar.sidecar.ports[0], _FORM_HEAD + b"Content-Length: 50\r\n\r\n", b"grant_type="
        )
    assert (status, body["error"]) == (408, "invalid_request")
    assert "in time" in body["error_description"]
