# SPDX-License-Identifier: Apache-2.0
"""Keep-alive connections to the backends, below aiohttp's client: one ``asyncio.Protocol`` per
connection, responses parsed by llhttp (``httptools``), request heads written in one write.

The HTTP/1.1 rules this module owns (RFC 9112 unless said):

- Request framing (§6): a body known whole goes with ``Content-Length``; a streamed body with
  the client's declared ``Content-Length`` when it had one, else ``Transfer-Encoding: chunked``.
  The client's own framing headers never arrive here (``headers.request_headers_for_backend``).
- Response framing is llhttp's (§6.3): ``Content-Length``, chunked, or until the connection
  closes. A response to HEAD, and 1xx, 204 and 304, have no body (§6.3 rules 1-2); interim
  1xx responses are skipped (RFC 9110 §15.2). A 101 (we never ask to upgrade) is an error.
- A connection is reused only after a complete exchange: the request written whole, the response
  read to its end, no ``Connection: close`` or HTTP/1.0 (§9.3), no byte beyond the response.
  Anything else — a failure, a cancelled stream, a body not read to the end — closes it.
- Retry: a pooled connection that the event loop has seen closed (or found idle too long) is
  never written to; the request goes to another. A request written to a connection is never
  sent again: the backend may have acted on it.
- Back-pressure both ways: response bytes are buffered up to ``_HIGH_WATER`` and then the
  backend transport stops reading (``pause_reading``) until the consumer takes them; a streamed
  request body waits for the backend transport to drain (``pause_writing``).
- Timeouts: connect (``connect_timeout``) and read (the response head, and each wait for body
  bytes when one is given) are single timer handles armed only while waiting — none when the
  bytes are already there.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Literal, cast

import httptools
from multidict import CIMultiDict
from yarl import URL

FailureReason = Literal["connect", "timeout", "disconnect", "protocol"]

_HIGH_WATER = 256 * 1024  # buffered response bytes past which the backend's reads pause
_MAX_HEAD = 64 * 1024  # a response head (status line and fields) larger than this is refused
_MAX_IDLE = 64  # idle keep-alive connections kept per backend origin
# An idle connection is used again only within this time: below the 5 s after which uvicorn (the
# MCP SDK's server) and Node.js close idle connections, so the sidecar does not write a request
# onto a connection the backend is closing at that moment (a race no client can undo safely).
_KEEPALIVE = 4.0


class BackendError(Exception):
    """The exchange with the backend failed. ``reason``: connect (it could not be reached),
    timeout, disconnect (it closed or reset mid-exchange), protocol (it sent what HTTP/1.1
    does not allow)."""

    def __init__(self, reason: FailureReason, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason: FailureReason = reason


@dataclass(frozen=True, slots=True)
class Origin:
    """Where one backend listens, worked out once per backend."""

    key: str  # scheme://host:port
    host: str
    port: int
    host_header: str  # RFC 9110 §7.2: the authority, without a default port
    ssl: ssl.SSLContext | None

    @classmethod
    def of(cls, url: URL) -> Origin:
        if url.host is None or url.port is None:
            raise ValueError(f"{url} names no host")
        tls = ssl.create_default_context() if url.scheme == "https" else None
        host = url.host
        shown = f"[{host}]" if ":" in host else host
        authority = shown if url.is_default_port() else f"{shown}:{url.port}"
        return cls(f"{url.scheme}://{shown}:{url.port}", host, url.port, authority, tls)


class UnsendableHead(Exception):
    """A request field holds what HTTP/1.1 does not allow in one; nothing was sent."""


# RFC 9110 §5.5: a field value is visible characters, SP and HTAB; CR and LF end lines.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def request_head(method: str, target: str, origin: Origin, headers: Iterable[tuple[str, str]]) -> bytes:
    """The request line and fields (RFC 9112 §3, §5), the framing fields included by the caller.

    SECURITY (request smuggling, RFC 9112 §11.2): a CR or LF in a field would start a new field
    or a new request at the backend, so every line must end exactly where it was meant to; NUL
    and the other control characters are refused too (RFC 9110 §5.5: "reject the message").
    """
    lines = [f"{method} {target} HTTP/1.1", f"Host: {origin.host_header}"]
    lines.extend([f"{name}: {value}" for name, value in headers])
    text = "\r\n".join(lines) + "\r\n\r\n"
    ends = len(lines) + 1
    if text.count("\n") != ends or text.count("\r") != ends or _CONTROL.search(text) is not None:
        raise UnsendableHead("a request field holds a line break or a control character")
    try:
        return text.encode("utf-8", "surrogateescape")  # the bytes the client sent come back
    except UnicodeEncodeError:
        raise UnsendableHead("a request field cannot be encoded") from None


class BackendResponse:
    """One response of a backend: status and fields once the head arrived, then the body read
    with :meth:`readany` or :meth:`read`. :meth:`release` gives the connection back to the pool
    when the exchange ended cleanly and closes it otherwise."""

    __slots__ = ("_conn", "content_length", "content_type", "headers", "reason", "status", "url")

    def __init__(self, conn: _Connection, url: str) -> None:
        self._conn = conn
        self.url = url
        self.status = conn.status
        self.reason = conn.reason
        self.headers: CIMultiDict[str] = CIMultiDict(conn.fields)
        conn.fields = []
        self.content_length = conn.content_length
        content_type = self.headers.get("Content-Type", "")
        self.content_type = content_type.partition(";")[0].strip().lower()

    @property
    def arrived(self) -> bool:
        """Every body byte has arrived (taken or not)."""
        return self._conn.body_done

    async def readany(self, within: float | None = None) -> bytes:
        """The body bytes buffered so far (waiting for some when none are), ``b""`` at the end.
        Raises :class:`BackendError` when the body ends early or nothing arrives ``within``
        seconds."""
        return await self._conn.take(within)

    async def readany_or_woken(self, within: float | None = None) -> bytes | None:
        """Like :meth:`readany`, but None when :meth:`wake` ended the wait before any byte came."""
        return await self._conn.take_unless_woken(within)

    def wake(self) -> None:
        """End a pending :meth:`readany_or_woken` (something else is ready for the reader)."""
        self._conn.wake()

    async def read(self, limit: int, within: float | None = None) -> bytes:
        """The whole body; :class:`BodyTooLarge` past ``limit`` bytes."""
        parts: list[bytes] = []
        size = 0
        while chunk := await self._conn.take(within):
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            parts.append(chunk)
        return b"".join(parts)

    def release(self) -> None:
        """Give the connection back to the pool after a clean end, close it otherwise."""
        self._conn.finish()


class BodyTooLarge(Exception):
    pass


class _OutOfStep(Exception):
    """Bytes of a further response, past the one asked for."""


class BackendPool:
    """Keep-alive connections to the backends, per origin, newest first."""

    def __init__(self, *, keepalive_timeout: float = _KEEPALIVE) -> None:
        self._keepalive = keepalive_timeout
        self._idle: dict[str, list[_Connection]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._closed = False

    async def send(
        self,
        origin: Origin,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]],
        body: bytes | AsyncIterator[bytes] | None,
        *,
        streamed_length: int | None = None,
        connect_timeout: float,
        read_timeout: float | None,
    ) -> BackendResponse:
        """Send one request and wait for the response head. ``streamed_length`` is the client's
        declared length of a streamed ``body`` (None: chunked)."""
        fields = list(headers)
        if isinstance(body, bytes):
            fields.append(("Content-Length", str(len(body))))
        elif body is not None:
            fields.append(
                ("Content-Length", str(streamed_length))
                if streamed_length is not None
                else ("Transfer-Encoding", "chunked")
            )
        elif method in ("POST", "PUT", "PATCH"):
            fields.append(("Content-Length", "0"))  # RFC 9110 §8.6: a method that expects content
        head = request_head(method, target, origin, fields)
        conn = self._idle_connection(origin) or await self._connect(origin, connect_timeout)
        await conn.exchange(
            head, body, chunked=streamed_length is None, is_head=method == "HEAD", within=read_timeout
        )
        return BackendResponse(conn, origin.key + target)

    async def close(self) -> None:
        self._closed = True
        if self._sweep is not None:
            self._sweep.cancel()
        for idle in self._idle.values():
            for conn in idle:
                conn.abort()
        self._idle.clear()

    def _idle_connection(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin.key)
        if not idle:
            return None
        expired = asyncio.get_running_loop().time() - self._keepalive
        while idle:
            conn = idle.pop()
            if conn.usable() and conn.idle_since > expired:
                return conn
            conn.abort()
        return None

    async def _connect(self, origin: Origin, within: float) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, origin.key),
                    origin.host,
                    origin.port,
                    ssl=origin.ssl,
                    server_hostname=origin.host if origin.ssl is not None else None,
                )
        except TimeoutError:
            raise BackendError("connect", "connect timed out") from None
        except OSError as exc:
            raise BackendError("connect", type(exc).__name__) from None
        return conn

    def keep(self, conn: _Connection) -> None:
        """A connection whose exchange ended cleanly, ready for the next request."""
        idle = self._idle.setdefault(conn.key, [])
        if self._closed or len(idle) >= _MAX_IDLE:
            conn.abort()
            return
        loop = asyncio.get_running_loop()
        conn.idle_since = loop.time()
        idle.append(conn)
        if self._sweep is None:
            self._sweep = loop.call_later(self._keepalive / 2, self._close_expired)

    def _close_expired(self) -> None:
        """Idle connections past the keep-alive time are closed (one timer per pool, not per
        connection); dead ones are dropped."""
        self._sweep = None
        expired = asyncio.get_running_loop().time() - self._keepalive
        for key, idle in list(self._idle.items()):
            kept = [conn for conn in idle if conn.usable() and conn.idle_since > expired]
            for conn in idle:
                if conn not in kept:
                    conn.abort()
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        if self._idle:
            self._sweep = asyncio.get_running_loop().call_later(self._keepalive / 2, self._close_expired)


class _Connection(asyncio.Protocol):
    """One connection to a backend and the exchange on it (at most one at a time)."""

    __slots__ = (
        "_buffered",
        "_busy",
        "_closed",
        "_drained",
        "_error",
        "_head_size",
        "_is_head",
        "_loop",
        "_parser",
        "_pool",
        "_reading_paused",
        "_reusable",
        "_timer",
        "_transport",
        "_until_close",
        "_waiter",
        "_write_paused",
        "_writer",
        "body_done",
        "chunks",
        "content_length",
        "fields",
        "head_done",
        "idle_since",
        "key",
        "reason",
        "status",
    )

    def __init__(self, pool: BackendPool, key: str) -> None:
        self._pool = pool
        self.key = key
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._closed = False
        self.idle_since = 0.0
        self._busy = False  # an exchange is under way
        # llhttp starts over by itself after each complete response; not after a response to
        # HEAD (it cannot be told there is no body), so a new parser follows one.
        self._parser = httptools.HttpResponseParser(self)
        self._is_head = False
        self._head_size = 0
        self._waiter: asyncio.Future[None] | None = None  # head, then body bytes
        self._timer: asyncio.TimerHandle | None = None
        self._error: BackendError | None = None
        self._reusable = True
        self._writer: asyncio.Task[None] | None = None  # a streamed request body
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._reading_paused = False
        # The response:
        self.status = 0
        self.reason = ""
        self.fields: list[tuple[str, str]] = []
        self.content_length: int | None = None
        self._until_close = False
        self.head_done = False
        self.body_done = False
        self.chunks: list[bytes] = []
        self._buffered = 0

    # The exchange, driven by the forwarder's task.

    def usable(self) -> bool:
        return not self._closed and self._transport is not None and not self._transport.is_closing()

    async def exchange(
        self,
        head: bytes,
        body: bytes | AsyncIterator[bytes] | None,
        *,
        chunked: bool,
        is_head: bool,
        within: float | None,
    ) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            raise BackendError("disconnect", "the connection closed before the request")
        if self._is_head:  # the previous exchange's
            self._parser = httptools.HttpResponseParser(self)
        self._busy, self._is_head = True, is_head
        if body is None or isinstance(body, bytes):
            transport.write(head + body if body else head)
        else:
            transport.write(head)
            # The read timeout counts from the body's end: a slow upload is the client's to pace
            # (server.idle_timeout bounds each of its pauses), not the backend being slow.
            self._writer = self._loop.create_task(self._write_body(transport, body, chunked, within))
            within = None
        try:
            await self._wait(within)
        except BaseException:
            self.abort()
            raise

    async def _write_body(
        self, transport: asyncio.Transport, body: AsyncIterator[bytes], chunked: bool, within: float | None
    ) -> None:
        try:
            async for chunk in body:
                if self._closed:
                    return
                if chunk:
                    # RFC 9112 §7.1: chunk-size in hex, CRLF, data, CRLF.
                    transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                if self._write_paused:
                    self._drained = self._loop.create_future()
                    await self._drained
            if chunked and not self._closed:
                transport.write(b"0\r\n\r\n")
            if within is not None and self._waiter is not None and self._timer is None:
                self._timer = self._loop.call_later(within, self._timed_out)  # _wait cancels it
        except Exception:
            # The client's body failed (the forwarder reads why from it): the backend must not
            # take a partial request as whole, so the connection goes.
            self._fail(BackendError("disconnect", "the request body failed"))

    async def take(self, within: float | None) -> bytes:
        while (chunk := self._take_now()) is None:
            await self._wait(within)
        return chunk

    async def take_unless_woken(self, within: float | None) -> bytes | None:
        if (chunk := self._take_now()) is None:
            await self._wait(within)
            chunk = self._take_now()
        return chunk

    def _take_now(self) -> bytes | None:
        """The body bytes buffered, b"" at the end, None when there are none yet."""
        if self.chunks:
            chunks, self.chunks, self._buffered = self.chunks, [], 0
            if self._reading_paused and self._transport is not None:
                self._reading_paused = False
                self._transport.resume_reading()
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        if self._error is not None:
            raise self._error
        return b"" if self.body_done else None

    async def _wait(self, within: float | None) -> None:
        if self._error is not None:
            raise self._error
        waiter = self._waiter = self._loop.create_future()
        if within is not None:
            self._timer = self._loop.call_later(within, self._timed_out)
        try:
            await waiter
        finally:
            self._waiter = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def finish(self) -> None:
        """The consumer is done with the response: keep the connection only after a clean end.

        SECURITY: only once every body byte was taken, too: a response released early (the client
        left, a refusal) may have its rest buffered here, which the next request on this
        connection, another user's, would otherwise receive before its own response."""
        if (
            self.body_done
            and not self.chunks
            and self._reusable
            and self._error is None
            and (self._writer is None or self._writer.done())
            and self.usable()
        ):
            self._reset()
            self._pool.keep(self)
        else:
            self.abort()

    def abort(self) -> None:
        """Close at once (RST is not needed; the backend sees the close and stops)."""
        self._reusable = False
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()
        if self._transport is not None:
            self._transport.close()
        self._closed = True

    def _reset(self) -> None:
        self._busy = False
        self._writer = None
        self._head_size = 0
        self.chunks, self._buffered = [], 0
        self.status, self.reason, self.fields = 0, "", []
        self.content_length, self._until_close = None, False
        self.head_done = self.body_done = False

    def wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: BackendError) -> None:
        if self._error is None:
            self._error = error
        self._reusable = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(self._error)
        if self._transport is not None:
            self._transport.close()

    def _timed_out(self) -> None:
        self._timer = None
        self._fail(BackendError("timeout", "the backend did not answer in time"))

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._busy or self.body_done:
            # Bytes nobody asked for (idle, or past a response's end): the connection cannot be
            # trusted to frame the next response.
            self._reusable = False
            if not self._busy and self._transport is not None:
                self._transport.close()
            return
        if not self.head_done:
            self._head_size += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(BackendError("protocol", "the backend switched protocols"))
        except httptools.HttpParserError as exc:
            if self._ended():
                self._reusable = False  # more than the response: kept out of the pool
            else:
                self._fail(BackendError("protocol", f"unparseable response: {exc}"))
            return
        if self._head_size > _MAX_HEAD and not self._headed():
            # SECURITY: counted on the bytes received, since llhttp holds an unfinished field
            # value in one growing buffer (memory and quadratic copying without this bound).
            self._fail(BackendError("protocol", "the response head is too large"))

    def eof_received(self) -> bool:
        return False  # close the transport: HTTP/1.1 has no use for a half-closed connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._reusable = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if not self._busy or self.body_done:
            return
        if self.head_done and self._until_close and self._error is None:
            self.body_done = True  # RFC 9112 §6.3 rule 8: the close ends the body
            self.wake()
            return
        detail = "the backend closed the connection" + (" mid-response" if self.head_done else "")
        self._fail(BackendError("disconnect", detail))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # llhttp callbacks (httptools), called inside feed_data

    def on_message_begin(self) -> None:
        if self.head_done:
            # SECURITY (response desync): a second response where no request waits for one
            # (RFC 9112 §9.3) is never parsed into this one nor kept for the next request; the
            # raise stops llhttp, and the connection is not reused.
            raise _OutOfStep

    def on_status(self, status: bytes) -> None:
        self.reason += status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name.decode("latin-1"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            return  # interim: the final response follows (on_message_complete resets)
        self.status = status
        framed = False
        for name, value in self.fields:
            lowered = name.lower()
            if lowered == "content-length":
                framed = True
                self.content_length = int(value) if value.isdigit() else None
            elif lowered == "transfer-encoding":
                # RFC 9112 §6.3 rule 4: with any other final coding the body ends at the close.
                framed = value.rpartition(",")[2].strip().lower() == "chunked"
        no_body = self._is_head or status in (204, 304)
        if no_body:
            self.content_length = None if status in (204, 304) else self.content_length
        self._until_close = not framed and not no_body
        self.head_done = True
        if self._is_head:
            # llhttp cannot be told the request was HEAD; the response ends with its head, and
            # this parser (which would wait for a body) is never fed again.
            self.body_done = True
        self.wake()

    def on_body(self, body: bytes) -> None:
        if self._is_head:
            self._reusable = False  # a body after a HEAD response: the framing is off
            return
        self.chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()
        self.wake()

    def on_message_complete(self) -> None:
        if not self.head_done:
            # The end of an interim 1xx response (RFC 9110 §15.2): forget it, the final follows.
            self.reason, self.fields = "", []
            return
        if not self._parser.should_keep_alive():
            self._reusable = False  # Connection: close or HTTP/1.0 (RFC 9112 §9.3)
        self.body_done = True
        self.wake()

    def _ended(self) -> bool:
        return self.body_done  # (a call: mypy cannot see the parser's callbacks set it)

    def _headed(self) -> bool:
        return self.head_done
