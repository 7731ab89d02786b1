# SPDX-License-Identifier: Apache-2.0
"""A scripted raw-socket HTTP/1.1 backend, and a raw client, for the proxy's wire-level tests.

aiohttp's server frames every response correctly; the proxy's backend side has to cope with
backends that do not (bodies cut short or too long, interim responses, read-until-close). Here a
test writes the exact bytes, in the pieces it chooses, and sees exactly what reached the backend
and on which TCP connection. The message reader is deliberately small (RFC 9112 §6: framing by
``Transfer-Encoding: chunked``, ``Content-Length``, or the close of the connection); it is the
test's ruler, not a production parser.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

_HEAD_LIMIT = 64 * 1024


class Incomplete(Exception):
    """The peer closed before a message (or its body) was complete."""


@dataclass
class Message:
    """A request or a response as it crossed the wire: start line, headers in order, body
    (de-chunked), and the framing that carried the body."""

    start_line: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    framing: str = "none"  # "length", "chunked", "close" or "none"
    connection: int = -1  # which backend connection carried it (requests only)

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        values = self.values(name)
        return ", ".join(values) if values else None

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0]

    @property
    def target(self) -> str:
        return self.start_line.split(" ", 2)[1]

    @property
    def status(self) -> int:
        return int(self.start_line.split(" ", 2)[1])


async def read_head(reader: asyncio.StreamReader) -> tuple[str, list[tuple[str, str]]] | None:
    """The start line and headers; None on a clean EOF before the first byte."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise Incomplete(f"head cut after {len(exc.partial)} bytes") from None
    except asyncio.LimitOverrunError:
        raise Incomplete("head too long") from None
    lines = raw[:-4].decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip()))
    return lines[0], headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    try:
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields, ignored
                    pass
                return bytes(body)
            body += await reader.readexactly(size)
            if await reader.readexactly(2) != b"\r\n":
                raise Incomplete("chunk not followed by CRLF")
    except asyncio.IncompleteReadError:
        raise Incomplete(f"chunked body cut after {len(body)} bytes") from None


def _framing(headers: Sequence[tuple[str, str]]) -> tuple[str, int]:
    """RFC 9112 §6.3: chunked wins over Content-Length; else the length; else nothing."""
    codings = [
        v.strip().lower() for k, vs in headers if k.lower() == "transfer-encoding" for v in vs.split(",")
    ]
    if codings and codings[-1] == "chunked":
        return "chunked", -1
    lengths = {v for k, v in headers if k.lower() == "content-length"}
    if len(lengths) > 1:
        raise Incomplete(f"conflicting Content-Length values {sorted(lengths)}")
    if lengths:
        return "length", int(lengths.pop())
    return "none", -1


async def read_body(
    reader: asyncio.StreamReader, headers: Sequence[tuple[str, str]], *, until_close: bool
) -> tuple[bytes, str]:
    """The body and its framing. ``until_close``: a response without length reads to EOF
    (RFC 9112 §6.3 item 8); a request without length has no body (item 7)."""
    framing, length = _framing(headers)
    if framing == "chunked":
        return await _read_chunked(reader), framing
    if framing == "length":
        try:
            return await reader.readexactly(length), framing
        except asyncio.IncompleteReadError as exc:
            raise Incomplete(f"{len(exc.partial)} of {length} body bytes") from None
    if until_close:
        return await reader.read(), "close"
    return b"", "none"


async def read_request(reader: asyncio.StreamReader) -> Message | None:
    head = await read_head(reader)
    if head is None:
        return None
    start, headers = head
    body, framing = await read_body(reader, headers, until_close=False)
    return Message(start, headers, body, framing)


async def read_response(reader: asyncio.StreamReader, *, method: str = "GET") -> Message:
    """The final response (1xx interim responses are skipped); no body for HEAD, 204, 304."""
    while True:
        head = await read_head(reader)
        if head is None:
            raise Incomplete("connection closed before a response")
        start, headers = head
        message = Message(start, headers)
        if not 100 <= message.status < 200:
            break
    if method == "HEAD" or message.status in (204, 304):
        return message
    message.body, message.framing = await read_body(reader, headers, until_close=True)
    return message


# ------------------------------------------------------------------------------ response bytes


def chunked(body: bytes, sizes: Iterable[int] = ()) -> bytes:
    """``body`` in chunks of the given sizes (the rest in one chunk), then the last chunk."""
    out, at = bytearray(), 0
    for size in [*sizes, len(body)]:
        piece = body[at : at + size]
        if piece:
            out += b"%x\r\n%b\r\n" % (len(piece), piece)
            at += len(piece)
    return bytes(out + b"0\r\n\r\n")


def response(
    status: int = 200,
    body: bytes = b"",
    *,
    framing: str = "length",
    headers: Sequence[tuple[str, str]] = (),
    reason: str = "Whatever",
    chunk_sizes: Iterable[int] = (),
) -> bytes:
    """A whole response: framing "length", "chunked", "close" (no length: read until the
    connection closes, so the caller must close it) or "none" (headers only)."""
    lines = [f"HTTP/1.1 {status} {reason}", *(f"{name}: {value}" for name, value in headers)]
    if framing == "length":
        lines.append(f"Content-Length: {len(body)}")
    elif framing == "chunked":
        lines.append("Transfer-Encoding: chunked")
    elif framing == "close":
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (chunked(body, chunk_sizes) if framing == "chunked" else body)


# ------------------------------------------------------------------------------ the backend


@dataclass
class BackendConnection:
    """One TCP connection accepted by the backend: what came in, how much went out."""

    index: int
    writer: asyncio.StreamWriter
    requests: list[Message] = field(default_factory=list)
    written: int = 0  # bytes accepted by the transport (counted once drain() returned)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, data: bytes, pieces: Sequence[int] = ()) -> None:
        """``data`` in pieces cut at the given sizes. Between pieces the loop gets one turn, so
        the proxy (same process, same loop) reads each piece on its own: the split is real,
        not coalesced by the kernel."""
        at = 0
        for size in [*pieces, len(data)]:
            piece = data[at : at + size]
            if not piece:
                continue
            self.writer.write(piece)
            await self.writer.drain()
            self.written += len(piece)
            at += len(piece)
            if at < len(data):
                await asyncio.sleep(0)  # one loop turn, not a wait for something

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()
        self.closed.set()


# Answers one request on a connection; False closes the connection afterwards.
Handler = Callable[[Message, BackendConnection], Awaitable[bool]]


async def not_scripted(request: Message, conn: BackendConnection) -> bool:
    await conn.send(response(500, b"no handler scripted for " + request.target.encode()))
    return True


class RawBackend:
    """An ``asyncio.start_server`` that reads each request whole and lets ``handler`` answer.

    ``connections`` lists every accepted connection, probes (connect and close, no byte sent)
    included; ``used`` only those that carried a request, which is what keep-alive tests count.
    """

    def __init__(self, handler: Handler = not_scripted) -> None:
        self.handler = handler
        self.connections: list[BackendConnection] = []
        self.requests: list[Message] = []  # every request, in the order they were read
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def used(self) -> list[BackendConnection]:
        return [conn for conn in self.connections if conn.requests]

    def reset(self, handler: Handler) -> None:
        """A new script; what was seen is forgotten (open connections stay open and usable)."""
        self.handler = handler
        self.requests.clear()
        for conn in self.connections:
            conn.requests.clear()

    async def start(self) -> RawBackend:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=_HEAD_LIMIT)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for conn in self.connections:
            if not conn.closed.is_set():
                conn.writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        conn = BackendConnection(len(self.connections), writer)
        self.connections.append(conn)
        try:
            while not conn.closed.is_set():
                request = await read_request(reader)
                if request is None:
                    break
                request.connection = conn.index
                conn.requests.append(request)
                self.requests.append(request)
                if not await self.handler(request, conn):
                    break
        except (Incomplete, ConnectionError):
            pass
        finally:
            self._tasks.discard(task)
            if not conn.closed.is_set():
                await conn.close()


# ------------------------------------------------------------------------------ a raw client


class RawClient:
    """One client TCP connection to the sidecar, for requests aiohttp's client would not
    send (pipelined, hand-framed) and responses it would hide (bytes after a HEAD)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=_HEAD_LIMIT)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def response(self, method: str = "GET") -> Message:
        return await read_response(self.reader, method=method)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


def request_bytes(
    method: str, target: str, *, port: int, headers: Sequence[tuple[str, str]] = (), body: bytes | None = None
) -> bytes:
    """A request with ``Host`` and, when there is a body, a ``Content-Length`` unless the
    headers frame it already."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in headers)]
    named = {k.lower() for k, _ in headers}
    if body is not None and not named & {"content-length", "transfer-encoding"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
