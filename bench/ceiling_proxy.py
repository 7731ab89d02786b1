# SPDX-License-Identifier: Apache-2.0
"""The Python ceiling of scenario 1: a reverse proxy with no aiohttp at all, asyncio protocols
and ``httptools`` (llhttp) on uvloop, to show how fast a Python proxy can pass a request through
on one core when it still does the work every proxy must do.

What it does, per request, and why each part is there (leaving any of it out would be measuring
less than a proxy):

- parses the client's request with ``httptools`` and rebuilds its head for the backend: the
  request target joined to the backend's base path, ``Host`` set to the backend's, hop-by-hop
  fields dropped (RFC 9110 section 7.6.1: ``Connection`` and the fields it names, ``Keep-Alive``,
  ``Proxy-Connection``, ``TE``, ``Trailer``, ``Transfer-Encoding``, ``Upgrade``), the body
  (``Content-Length`` or chunked, RFC 9112 section 7.1) collected and sent with a
  ``Content-Length``;
- sends it on a pooled keep-alive backend connection (a new one, in a task, only when none is
  idle);
- parses the response with ``httptools``, rebuilds its head the same way and streams the body as
  it arrives: with the backend's ``Content-Length`` when it gave one, chunked otherwise (chunked
  or close-delimited from the backend, RFC 9112 section 6.3), pausing the backend while the
  client's socket is full;
- keeps the client connection alive when the request allows (``should_keep_alive``) and
  answers pipelined requests in order.

What it leaves out, being a baseline and not a product: no checks of any kind, no logs, no
metrics, no timeouts, no ``HEAD``/``CONNECT``/``Upgrade`` (answered 501: a ``HEAD`` response's
body-less framing needs a flag httptools does not expose).

Run: ``python -m bench.ceiling_proxy PORT BACKEND_URL``.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import sys
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

import httptools
import uvloop

# RFC 9110 section 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
UNSUPPORTED_METHODS = frozenset({b"HEAD", b"CONNECT"})


def forwarded_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The end-to-end fields of ``headers``: hop-by-hop ones, those ``Connection`` names, and
    ``Host``/``Content-Length`` (rewritten by the proxy itself) and ``Expect`` (the body has been
    read whole already) left out."""
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == b"connection"
        for token in value.split(b",")
    }
    dropped = HOP_BY_HOP | named | {b"host", b"content-length", b"expect"}
    return [(name, value) for name, value in headers if name.lower() not in dropped]


def request_head(
    method: bytes, target: bytes, host: bytes, headers: list[tuple[bytes, bytes]], length: int
) -> bytes:
    lines = [b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (method, target, host, length)]
    lines += [b"%s: %s\r\n" % pair for pair in headers]
    lines.append(b"\r\n")
    return b"".join(lines)


class Framing(enum.Enum):
    """How a response body is delimited towards the client."""

    NONE = enum.auto()  # 1xx, 204, 304
    LENGTH = enum.auto()  # the backend's Content-Length, passed on
    CHUNKED = enum.auto()  # chunked or close-delimited from the backend: chunked to the client


def response_head(
    status: int, reason: bytes, headers: list[tuple[bytes, bytes]], framing: Framing, length: bytes | None
) -> bytes:
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
    if framing is Framing.LENGTH:
        lines.append(b"Content-Length: %s\r\n" % length)
    elif framing is Framing.CHUNKED:
        lines.append(b"Transfer-Encoding: chunked\r\n")
    lines += [b"%s: %s\r\n" % pair for pair in headers]
    lines.append(b"\r\n")
    return b"".join(lines)


def simple_response(status: int, reason: bytes) -> bytes:
    return b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % (status, reason)


class Backend:
    """Where requests go, and the idle keep-alive connections to it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.authority = f"{self.host}:{self.port}".encode()
        self.base = parts.path.rstrip("/").encode()
        self.idle: collections.deque[BackendConnection] = collections.deque()

    def target(self, target: bytes) -> bytes:
        return self.base + target

    def idle_connection(self) -> BackendConnection | None:
        """The most recently used idle connection still open: no task, no await, the common case."""
        while self.idle:
            connection = self.idle.pop()
            if connection.usable():
                return connection
        return None

    async def connect(self) -> BackendConnection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: BackendConnection(self), self.host, self.port)
        return connection

    def release(self, connection: BackendConnection) -> None:
        self.idle.append(connection)


class Exchange:
    """One request from the client, read whole, waiting for its turn on the connection."""

    __slots__ = ("body", "headers", "keep_alive", "method", "target")

    def __init__(self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.method, self.target, self.headers = method, target, headers
        self.body: list[bytes] = []
        self.keep_alive = True


class BackendConnection(asyncio.Protocol):
    """One keep-alive connection to the backend; relays one response at a time to a client."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.client: ClientConnection | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.framing = Framing.LENGTH
        self.close_delimited = False  # no Content-Length, not chunked: the body ends at EOF
        self.headers_sent = False
        self.closed = False

    def usable(self) -> bool:
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def send(self, client: ClientConnection, exchange: Exchange) -> None:
        assert self.transport is not None
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.headers, self.reason, self.headers_sent = [], b"", False
        body = b"".join(exchange.body)
        head = request_head(
            exchange.method,
            self.backend.target(exchange.target),
            self.backend.authority,
            forwarded_headers(exchange.headers),
            len(body),
        )
        self.transport.writelines((head, body))

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass of it

    def data_received(self, data: bytes) -> None:
        if self.client is None:  # bytes nobody asked for: the connection cannot be trusted
            self.abort()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.fail()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        client, self.client = self.client, None
        if client is None:
            return
        if self.headers_sent and self.close_delimited:
            client.response_end(self.framing, keep_alive=False)  # RFC 9112 section 6.3 point 8
        elif self.headers_sent:
            client.abort()  # the response was cut short: the client must see that too
        else:
            client.response_failed(simple_response(502, b"Bad Gateway"))

    # httptools callbacks
    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        assert self.client is not None
        status = self.parser.get_status_code()
        length = next((v for n, v in self.headers if n.lower() == b"content-length"), None)
        chunked = any(n.lower() == b"transfer-encoding" and b"chunked" in v.lower() for n, v in self.headers)
        self.close_delimited = length is None and not chunked
        if status < 200 or status in (204, 304):  # RFC 9112 section 6.3 point 1: never a body
            self.framing, length = Framing.NONE, None
        elif length is None or chunked:  # RFC 9112 section 6.1: chunked wins over a length
            self.framing, length = Framing.CHUNKED, None
        else:
            self.framing = Framing.LENGTH
        head = response_head(status, self.reason, forwarded_headers(self.headers), self.framing, length)
        self.headers_sent = True
        self.client.write(head)

    def on_body(self, body: bytes) -> None:
        assert self.client is not None
        if self.framing is Framing.CHUNKED:
            self.client.write(b"%x\r\n%s\r\n" % (len(body), body))
        else:
            self.client.write(body)

    def on_message_complete(self) -> None:
        client, self.client = self.client, None
        reusable = self.parser.should_keep_alive()
        if client is not None:
            client.response_end(self.framing, keep_alive=True)
        if reusable and self.usable():
            self.backend.release(self)
        else:
            self.abort()

    # helpers
    def fail(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            if self.headers_sent:
                client.abort()
            else:
                client.response_failed(simple_response(502, b"Bad Gateway"))
        self.abort()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def pause(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()


class ClientConnection(asyncio.Protocol):
    """One client connection: parses requests, forwards them one at a time, in order."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: collections.deque[Exchange] = collections.deque()
        self.current: Exchange | None = None  # being read
        self.upstream: BackendConnection | None = None  # the exchange being answered
        self.busy = False
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.keep_alive = True

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass of it

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.refuse(simple_response(501, b"Not Implemented"))
        except httptools.HttpParserError:
            self.refuse(simple_response(400, b"Bad Request"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        upstream, self.upstream = self.upstream, None
        if upstream is not None:  # mid-response: that backend connection is in an unknown state
            upstream.client = None
            upstream.abort()

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.pause()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.resume()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.headers = b"", []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.current = Exchange(self.parser.get_method(), self.url, self.headers)

    def on_body(self, body: bytes) -> None:
        assert self.current is not None
        self.current.body.append(body)

    def on_message_complete(self) -> None:
        exchange, self.current = self.current, None
        assert exchange is not None
        if exchange.method in UNSUPPORTED_METHODS or self.parser.should_upgrade():
            self.refuse(simple_response(501, b"Not Implemented"))
            return
        exchange.keep_alive = self.parser.should_keep_alive()
        self.queue.append(exchange)
        if not self.busy:
            self.next()

    # forwarding
    def next(self) -> None:
        if not self.queue or self.transport is None:
            self.busy = False
            return
        self.busy = True
        exchange = self.queue.popleft()
        self.keep_alive = exchange.keep_alive
        upstream = self.backend.idle_connection()
        if upstream is not None:
            self.upstream = upstream
            upstream.send(self, exchange)
            return
        task = asyncio.ensure_future(self.forward(exchange))
        task.add_done_callback(_consume)

    async def forward(self, exchange: Exchange) -> None:
        """Sends ``exchange`` on a new backend connection (none was idle)."""
        try:
            upstream = await self.backend.connect()
        except OSError:
            self.response_failed(simple_response(502, b"Bad Gateway"))
            return
        if self.transport is None:
            self.backend.release(upstream)
            return
        self.upstream = upstream
        upstream.send(self, exchange)

    def write(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def response_end(self, framing: Framing, *, keep_alive: bool) -> None:
        self.upstream = None
        if framing is Framing.CHUNKED:
            self.write(b"0\r\n\r\n")
        if not (self.keep_alive and keep_alive):
            self.close()
            return
        self.next()

    def response_failed(self, response: bytes) -> None:
        self.upstream = None
        self.write(response)
        self.close()

    def refuse(self, response: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.write(response)
            self.close()

    def close(self) -> None:
        self.busy = True  # nothing more is answered on this connection
        self.queue.clear()
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.upstream = None
        if self.transport is not None:
            self.transport.abort()


def _consume(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        raise SystemExit(f"ceiling proxy: {task.exception()!r}")


async def serve(port: int, backend_url: str) -> None:
    backend = Backend(backend_url)
    factory: Callable[[], ClientConnection] = lambda: ClientConnection(backend)  # noqa: E731
    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2]))
