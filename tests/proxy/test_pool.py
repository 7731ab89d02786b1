# SPDX-License-Identifier: Apache-2.0
"""The backend pool's request heads: what the sidecar writes is exactly what it meant, or
nothing (request smuggling, RFC 9112 §11.2)."""

from __future__ import annotations

import asyncio
import contextlib

import httptools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from yarl import URL

from sidecar.proxy.pool import BackendPool, Origin, UnsendableHead, request_head
from tests.support import wait_for

ORIGIN = Origin.of(URL("http://127.0.0.1:3001/mcp"))


class _Fields:
    def __init__(self) -> None:
        self.fields: list[tuple[bytes, bytes]] = []
        self.url = b""
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name, value))

    def on_message_complete(self) -> None:
        self.complete = True


def _parsed(head: bytes) -> _Fields:
    seen = _Fields()
    parser = httptools.HttpRequestParser(seen)
    parser.feed_data(head)
    return seen


@pytest.mark.parametrize(
    "value", ["a\r\nX-Injected: 1", "a\nX-Injected: 1", "a\rb", "a\x00b", "a\x08b", "\x7f"]
)
def test_line_break_or_control_character_in_a_field_refuses_the_request(value: str) -> None:
    with pytest.raises(UnsendableHead):
        request_head("GET", "/mcp", ORIGIN, [("X-User", value)])


def test_host_names_the_backend_without_a_default_port() -> None:
    assert Origin.of(URL("http://127.0.0.1:3001/")).host_header == "127.0.0.1:3001"
    assert Origin.of(URL("http://backend/")).host_header == "backend"
    assert Origin.of(URL("https://backend:443/")).host_header == "backend"
    assert Origin.of(URL("http://[::1]:8080/")).host_header == "[::1]:8080"


_NAMES = st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,20}\Z")
_VALUES = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=300, deadline=None)
@given(fields=st.lists(st.tuples(_NAMES, _VALUES), max_size=8))
def test_any_fields_are_written_exactly_or_refused(fields: list[tuple[str, str]]) -> None:
    """Whatever the values, a head the sidecar writes parses back (llhttp, as a backend would)
    into one request with exactly these fields; otherwise nothing is written."""
    try:
        head = request_head("POST", "/mcp?x=1", ORIGIN, [*fields, ("Content-Length", "0")])
    except UnsendableHead:
        assert any(
            (ord(char) < 0x20 and char != "\t") or char == "\x7f" for _, value in fields for char in value
        )
        return
    seen = _parsed(head)
    assert seen.complete
    assert seen.url == b"/mcp?x=1"
    expected = [(b"Host", b"127.0.0.1:3001")]
    expected += [(name.encode(), value.strip(" \t").encode()) for name, value in fields]
    # RFC 9110 §5.5: the whitespace around a value is not part of it (llhttp keeps the trailing).
    got = [(name, value.strip(b" \t")) for name, value in seen.fields]
    assert got == [*expected, (b"Content-Length", b"0")]


async def test_a_response_released_with_bytes_unread_never_reaches_the_next_request() -> None:
    """The rest of a response released early (its client left) is dropped with its connection;
    the next request, perhaps another user's, gets its own response only (found by review)."""
    connections: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while head := await reader.readuntil(b"\r\n\r\n"):
                if head.startswith(b"GET /a "):
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHELLO")
                await writer.drain()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    origin = Origin.of(URL(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"))
    pool = BackendPool()
    try:
        first = await pool.send(origin, "GET", "/a", [], None, connect_timeout=5, read_timeout=5)
        await wait_for(lambda: first.arrived, 5, what="the whole first response buffered")
        first.release()  # nothing of it read
        second = await pool.send(origin, "GET", "/b", [], None, connect_timeout=5, read_timeout=5)
        assert await second.read(1024, 5) == b"HELLO"
        second.release()
        assert len(connections) == 2  # the first connection was not used again
    finally:
        await pool.close()
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()
