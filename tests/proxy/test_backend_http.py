# SPDX-License-Identifier: Apache-2.0
"""HTTP/1.1 conformance of the proxy's backend side, end to end: a real sidecar on loopback in
front of a raw-socket backend (tests/servers/raw_http.py) that writes exactly the bytes each test
chooses, in the pieces it chooses, and records what reached it on which TCP connection.

These tests do not know how the sidecar talks to backends (a client library or a pool of its
own); they pin what the client and the backend see: framing (RFC 9112 §6), interim responses
(RFC 9110 §15.2), bodiless responses (RFC 9110 §6.4.1), connection reuse and close (RFC 9112 §9),
and that a broken backend never produces a complete-looking response.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import string
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import NamedTuple

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.proxy.conftest import StartSidecar
from tests.servers.raw_http import (
    BackendConnection,
    Handler,
    Message,
    RawBackend,
    RawClient,
    chunked,
    not_scripted,
    request_bytes,
    response,
)
from tests.support import wait_for

# A failing case must fail in seconds, not after pytest's 60 s: every exchange runs under this.
STEP = 5.0
SMALL = 1000  # relayed whole by today's forwarder
LARGE = 300_000  # past every "read it whole" threshold: streamed


def _body(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)  # noqa: S311 - test data, not a secret


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
async def backend() -> AsyncIterator[RawBackend]:
    raw = await RawBackend().start()
    yield raw
    await raw.close()


@pytest.fixture
async def proxy(backend: RawBackend, start_sidecar: StartSidecar) -> str:
    """The sidecar's URL for the raw backend, mounted at /b (``/b/x`` reaches it as ``/x``).
    Set up after the backend, so it is shut down first and closes its backend connections."""
    sidecar = await start_sidecar([{"name": "raw", "url": backend.url, "path": "/b"}])
    return sidecar.url


@pytest.fixture
def port(proxy: str) -> int:
    return int(proxy.rsplit(":", 1)[1])


def routes(table: dict[str, Handler]) -> Handler:
    """A handler dispatching on the request target (500 for a target not in ``table``)."""

    async def handle(request: Message, conn: BackendConnection) -> bool:
        return await table.get(request.target, not_scripted)(request, conn)

    return handle


def answer(data: bytes, *, pieces: tuple[int, ...] = (), keep: bool = True) -> Handler:
    """Always the same bytes; ``keep=False`` closes the connection after them."""

    async def handle(_request: Message, conn: BackendConnection) -> bool:
        await conn.send(data, pieces)
        return keep

    return handle


OK_AFTER = answer(response(200, b"after"))


async def _get(
    http: aiohttp.ClientSession, url: str, method: str = "GET", **kwargs: object
) -> tuple[int, bytes]:
    async with asyncio.timeout(STEP), http.request(method, url, **kwargs) as resp:  # type: ignore[arg-type]
        return resp.status, await resp.read()


# ------------------------------------------------------------------------------ response framing


@pytest.mark.parametrize("size", [0, SMALL, LARGE])
@pytest.mark.parametrize("framing", ["length", "chunked"])
async def test_framed_body_reaches_client_whole_and_connection_is_reused(
    proxy: str, backend: RawBackend, http: aiohttp.ClientSession, framing: str, size: int
) -> None:
    """Content-Length and chunked (RFC 9112 §6.3 items 4-6): the client gets the same bytes,
    however the sidecar re-frames them; the backend connection serves the next request."""
    body = _body(size)
    backend.handler = routes(
        {"/r": answer(response(200, body, framing=framing, chunk_sizes=[1, 7, 4096])), "/after": OK_AFTER}
    )
    assert await _get(http, f"{proxy}/b/r") == (200, body)
    assert await _get(http, f"{proxy}/b/after") == (200, b"after")
    first, second = backend.requests
    assert first.connection == second.connection, "a completely read response frees its connection"


@pytest.mark.parametrize("size", [0, SMALL, LARGE])
async def test_read_until_close_body_reaches_client_whole_and_connection_is_not_reused(
    proxy: str, backend: RawBackend, http: aiohttp.ClientSession, size: int
) -> None:
    """No length, no chunking: the body ends where the backend closes (RFC 9112 §6.3 item 8);
    that connection is gone, the next request gets a new one."""
    body = _body(size)
    backend.handler = routes(
        {"/r": answer(response(200, body, framing="close"), keep=False), "/after": OK_AFTER}
    )
    assert await _get(http, f"{proxy}/b/r") == (200, body)
    assert await _get(http, f"{proxy}/b/after") == (200, b"after")
    first, second = backend.requests
    assert first.connection != second.connection


# ------------------------------------------------------------------------------ request framing


def _framing_is_the_sidecars_own(request: Message, body: bytes) -> None:
    """RFC 9112 §6.3: one framing, matching the body actually sent; never both (a request a
    backend could split differently from the sidecar: request smuggling)."""
    lengths = request.values("Content-Length")
    codings = request.values("Transfer-Encoding")
    assert request.body == body
    assert not (lengths and codings), request.headers
    if codings:
        assert [c.strip().lower() for c in codings] == ["chunked"]
    elif body:
        assert lengths == [str(len(body))], "Content-Length as the sidecar counts it, one value"


@pytest.mark.parametrize(
    ("size", "framing"),
    [
        pytest.param(SMALL, "chunked", id="chunked-small"),
        pytest.param(LARGE, "chunked", id="chunked-large"),
        pytest.param(SMALL, "length", id="length-small"),
        pytest.param(LARGE, "length", id="length-large"),
    ],
)
async def test_client_framing_and_connection_headers_never_reach_backend_as_sent(
    proxy: str, port: int, backend: RawBackend, size: int, framing: str
) -> None:
    """The client's framing is hop-by-hop (RFC 9110 §7.6.1, RFC 9112 §6): the backend gets the
    body whole in a framing of the sidecar's own, and neither the client's Connection header
    nor the fields it names."""
    body = _body(size, seed=1)
    hop = [
        ("Connection", "keep-alive, X-Hop-Name"),
        ("X-Hop-Name", "secret-hop"),
        ("Keep-Alive", "timeout=9"),
    ]
    if framing == "chunked":
        sent = request_bytes(
            "POST", "/b/up", port=port, headers=[*hop, ("Transfer-Encoding", "chunked")]
        ) + chunked(body, [1, 2, 3, 40_000])
    else:  # leading zeros are a valid Content-Length (1*DIGIT) that only a copy would keep
        sent = (
            request_bytes("POST", "/b/up", port=port, headers=[*hop, ("Content-Length", f"000{size}")]) + body
        )
    backend.handler = answer(response(200, b"stored"))
    client = await RawClient.open(port)
    try:
        async with asyncio.timeout(STEP):
            await client.send(sent)
            got = await client.response()
    finally:
        await client.close()
    assert (got.status, got.body) == (200, b"stored")
    (seen,) = backend.requests
    _framing_is_the_sidecars_own(seen, body)
    names = {name.lower() for name, _ in seen.headers}
    assert "x-hop-name" not in names
    assert "keep-alive" not in names
    assert "x-hop-name" not in (seen.header("Connection") or "").lower()


async def test_client_connection_close_does_not_close_the_backend_connection(
    proxy: str, port: int, backend: RawBackend, http: aiohttp.ClientSession
) -> None:
    """``Connection: close`` ends the client's connection only (RFC 9110 §7.6.1): the backend
    does not see it, and its connection serves the next client."""
    backend.handler = routes({"/one": answer(response(200, b"one")), "/after": OK_AFTER})
    client = await RawClient.open(port)
    try:
        async with asyncio.timeout(STEP):
            await client.send(request_bytes("GET", "/b/one", port=port, headers=[("Connection", "close")]))
            got = await client.response()
            assert await client.reader.read() == b"", "the sidecar closes the client connection"
    finally:
        await client.close()
    assert (got.status, got.body) == (200, b"one")
    assert await _get(http, f"{proxy}/b/after") == (200, b"after")
    first, second = backend.requests
    assert "close" not in (first.header("Connection") or "").lower()
    assert first.connection == second.connection


# ------------------------------------------------------------------------------ interim, HEAD, 204/304

INTERIM = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"


@pytest.mark.parametrize("pieces", [(), (10, 20, 30, 40)], ids=["one-write", "split"])
async def test_interim_responses_are_not_the_answer(
    proxy: str, backend: RawBackend, http: aiohttp.ClientSession, pieces: tuple[int, ...]
) -> None:
    """1xx responses precede the final one (RFC 9110 §15.2): the client gets the final
    response, and the connection stays in step for the next request."""
    backend.handler = routes(
        {"/r": answer(INTERIM + response(201, b"final"), pieces=pieces), "/after": OK_AFTER}
    )
    assert await _get(http, f"{proxy}/b/r") == (201, b"final")
    assert await _get(http, f"{proxy}/b/after") == (200, b"after")
    first, second = backend.requests
    assert first.connection == second.connection


async def _then_get_after(client: RawClient, port: int) -> None:
    """A GET on the same client connection: had the sidecar sent body bytes after a bodiless
    response, they would stand where this response's status line must be."""
    await client.send(request_bytes("GET", "/b/after", port=port))
    got = await client.response()
    assert (got.status, got.body) == (200, b"after")


@pytest.mark.parametrize(
    "head_headers",
    [[("Content-Length", "1234")], [("Transfer-Encoding", "chunked")]],
    ids=["content-length", "chunked"],
)
async def test_head_relays_no_body_and_reuses_the_backend_connection(
    proxy: str, port: int, backend: RawBackend, head_headers: list[tuple[str, str]]
) -> None:
    """A response to HEAD has no body whatever its framing headers say (RFC 9110 §9.3.2,
    RFC 9112 §6.3 item 1): nothing is awaited from the backend, nothing sent to the client."""
    backend.handler = routes(
        {"/h": answer(response(200, framing="none", headers=head_headers)), "/after": OK_AFTER}
    )
    client = await RawClient.open(port)
    try:
        async with asyncio.timeout(STEP):
            await client.send(request_bytes("HEAD", "/b/h", port=port))
            got = await client.response("HEAD")
            assert got.status == 200
            await _then_get_after(client, port)
    finally:
        await client.close()
    first, second = backend.requests
    assert first.method == "HEAD"
    assert first.connection == second.connection


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"HTTP/1.1 204 No Content\r\nX-Done: 1\r\n\r\n", id="204"),
        pytest.param(b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n', id="304"),
        # RFC 9110 §8.6: a 304 may carry the Content-Length the 200 would have had.
        pytest.param(
            b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 50\r\n\r\n', id="304-length"
        ),
    ],
)
async def test_bodiless_statuses_relay_no_body_and_reuse_the_backend_connection(
    proxy: str, port: int, backend: RawBackend, raw: bytes
) -> None:
    """204 and 304 end at their header section (RFC 9112 §6.3 item 1)."""
    backend.handler = routes({"/r": answer(raw), "/after": OK_AFTER})
    client = await RawClient.open(port)
    try:
        async with asyncio.timeout(STEP):
            await client.send(request_bytes("GET", "/b/r", port=port))
            got = await client.response()
            assert got.status == int(raw.split(b" ")[1])
            await _then_get_after(client, port)
    finally:
        await client.close()
    first, second = backend.requests
    assert first.connection == second.connection


# ------------------------------------------------------------------------------ connection close


@pytest.mark.parametrize("backend_closes", [True, False], ids=["socket-closed", "socket-left-open"])
async def test_backend_connection_close_is_honoured(
    proxy: str, backend: RawBackend, http: aiohttp.ClientSession, backend_closes: bool
) -> None:
    """``Connection: close`` means the connection is not reused (RFC 9112 §9.6), even when the
    backend has not closed it yet; the next request succeeds on a new connection."""
    said_close = response(200, b"last", headers=[("Connection", "close")])
    backend.handler = routes({"/r": answer(said_close, keep=not backend_closes), "/after": OK_AFTER})
    assert await _get(http, f"{proxy}/b/r") == (200, b"last")
    assert await _get(http, f"{proxy}/b/after") == (200, b"after")
    first, second = backend.requests
    assert first.connection != second.connection
    # The sidecar closes its side too, rather than keeping a dead connection open.
    await wait_for(backend.connections[first.connection].closed.is_set, STEP, what="the closed connection")


# ------------------------------------------------------------------------------ broken backends


def _cut(head: bytes, *parts: bytes) -> Handler:
    """Sends ``head`` and ``parts`` (each its own write), then closes: the body never ends."""

    async def handle(_request: Message, conn: BackendConnection) -> bool:
        await conn.send(head)
        for part in parts:
            await conn.send(part)
        return False

    return handle


@pytest.mark.parametrize(
    "handler",
    [
        pytest.param(
            _cut(b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n", b"x" * 1000), id="length-small"
        ),
        pytest.param(
            _cut(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n", b"x" * 300_000), id="length-large"
        ),
        pytest.param(
            _cut(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"400\r\n" + b"x" * 1024 + b"\r\n"
            ),
            id="chunked-before-last-chunk",
        ),
        pytest.param(
            _cut(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"400\r\n" + b"x" * 100),
            id="chunked-mid-chunk",
        ),
    ],
)
async def test_backend_closing_mid_body_never_looks_complete(
    proxy: str, backend: RawBackend, http: aiohttp.ClientSession, handler: Handler
) -> None:
    """A body cut short is an error the client must see (RFC 9112 §8): its connection is
    dropped mid-body. A sidecar that had not started the response yet may say 502 instead;
    what it may never do is end the response as if the body were complete."""
    backend.handler = handler
    async with asyncio.timeout(STEP), http.get(f"{proxy}/b/cut") as resp:
        if resp.status == 502:
            return  # nothing of the broken response was relayed
        assert resp.status == 200
        with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
            await resp.read()


SMUGGLED = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"


@pytest.mark.parametrize("size", [10, LARGE])
@pytest.mark.parametrize("when", ["same-write", "after-the-response"])
async def test_bytes_past_content_length_never_become_a_response(
    proxy: str, backend: RawBackend, http: aiohttp.ClientSession, size: int, when: str
) -> None:
    """The body is exactly Content-Length bytes (RFC 9112 §6.3 item 6); what follows is no
    response to the next request (RFC 9112 §9.3: responses answer requests in order, and this
    one answers none). The connection carrying it is unusable; the next request gets its own
    answer."""
    body = _body(size)
    first = response(200, body)

    async def overlong(_request: Message, conn: BackendConnection) -> bool:
        if when == "same-write":
            await conn.send(first + SMUGGLED)
        else:
            await conn.send(first + SMUGGLED, pieces=(len(first),))
        return True

    backend.handler = routes({"/r": overlong, "/next": answer(response(200, b"fresh"))})
    assert await _get(http, f"{proxy}/b/r") == (200, body)
    assert await _get(http, f"{proxy}/b/next") == (200, b"fresh")
    first_request, next_request = backend.requests
    assert (first_request.target, next_request.target) == ("/r", "/next")
    assert next_request.connection != first_request.connection
    carrier = backend.connections[first_request.connection]
    await wait_for(carrier.closed.is_set, STEP, what="the out-of-step connection closed")


# ------------------------------------------------------------------------------ volume and flow


def _vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise LookupError(field)


def _reset_peak_rss() -> bool:
    """Linux: writing 5 to clear_refs resets VmHWM, so the peak of one transfer can be read."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


HUGE_BLOCK = 256 * 1024
HUGE_BLOCKS = 256  # 64 MiB


def _huge_block(index: int, base: bytes) -> bytes:
    return index.to_bytes(8, "big") + base[8:]


async def test_large_response_streams_through_with_bounded_memory(
    proxy: str, backend: RawBackend, http: aiohttp.ClientSession
) -> None:
    """64 MiB (generated, numbered blocks) reach the client whole while the process (sidecar,
    backend and client alike) grows by a fraction of it: the body is streamed, not buffered."""
    base = os.urandom(HUGE_BLOCK)
    total = HUGE_BLOCK * HUGE_BLOCKS

    async def huge(_request: Message, conn: BackendConnection) -> bool:
        await conn.send(f"HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n".encode())
        for index in range(HUGE_BLOCKS):
            await conn.send(_huge_block(index, base))
        return True

    expected = hashlib.sha256()
    for index in range(HUGE_BLOCKS):
        expected.update(_huge_block(index, base))
    backend.handler = huge
    before = _vm_kib("VmRSS")
    hwm_reset = _reset_peak_rss()
    peak, received, digest = before, 0, hashlib.sha256()
    async with asyncio.timeout(30), http.get(f"{proxy}/b/huge") as resp:
        assert resp.status == 200
        async for chunk in resp.content.iter_any():
            received += len(chunk)
            digest.update(chunk)
            peak = max(peak, _vm_kib("VmRSS"))
    if hwm_reset:
        peak = max(peak, _vm_kib("VmHWM"))
    assert received == total
    assert digest.digest() == expected.digest()
    growth_mib = (peak - before) / 1024
    assert growth_mib < 16, f"RSS grew by {growth_mib:.1f} MiB for a {total >> 20} MiB body"


async def test_pipelined_requests_are_answered_in_order(proxy: str, port: int, backend: RawBackend) -> None:
    """Requests sent back to back in one write (RFC 9112 §9.3) get their responses in order,
    HEAD's without a body."""
    backend.handler = routes(
        {
            "/p1": answer(response(200, b"first", framing="chunked")),
            "/p2": answer(response(200, framing="none", headers=[("Content-Length", "6")])),
            "/p3": answer(response(201, b"third:" + b"y" * LARGE)),
        }
    )
    client = await RawClient.open(port)
    try:
        async with asyncio.timeout(STEP):
            await client.send(
                request_bytes("GET", "/b/p1", port=port)
                + request_bytes("HEAD", "/b/p2", port=port)
                + request_bytes("POST", "/b/p3", port=port, body=b"payload")
            )
            answers = [await client.response(method) for method in ("GET", "HEAD", "POST")]
    finally:
        await client.close()
    assert [(a.status, a.body) for a in answers] == [
        (200, b"first"),
        (200, b""),
        (201, b"third:" + b"y" * LARGE),
    ]
    assert [(r.method, r.target, r.body) for r in backend.requests] == [
        ("GET", "/p1", b""),
        ("HEAD", "/p2", b""),
        ("POST", "/p3", b"payload"),
    ]


def _stopped_growing(read: Callable[[], int], polls: int) -> Callable[[], bool]:
    """True once ``read()`` returned the same non-zero value ``polls`` times in a row."""
    state = {"last": -1, "same": 0}

    def check() -> bool:
        value = read()
        state["same"] = state["same"] + 1 if value == state["last"] else 0
        state["last"] = value
        return value > 0 and state["same"] >= polls

    return check


STALL_BOUND = 16 * 1024 * 1024


async def test_stalled_client_stalls_the_backend_and_leaving_closes_it(
    proxy: str, port: int, backend: RawBackend
) -> None:
    """Back-pressure end to end: a client that reads nothing makes the backend's writes block
    once the buffers between them are full (bounded, far below the body), and when that client
    goes away the backend connection is closed rather than left to drain into nowhere."""
    block = b"z" * 65536

    async def endless(_request: Message, conn: BackendConnection) -> bool:
        await conn.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (1 << 40))
        while conn.written < 8 * STALL_BOUND:  # a cap, so a sidecar without back-pressure fails fast
            await conn.send(block)
        return False

    backend.handler = endless
    client = await RawClient.open(port)
    try:
        await client.send(request_bytes("GET", "/b/endless", port=port))
        await wait_for(lambda: bool(backend.used), STEP, what="the request at the backend")
        conn = backend.used[0]
        await wait_for(
            _stopped_growing(lambda: conn.written, polls=15), STEP, what="the backend's writes stalling"
        )
        assert conn.written < STALL_BOUND, f"{conn.written} bytes buffered for a client reading nothing"
    finally:
        await client.close()
    await wait_for(conn.closed.is_set, STEP, what="the backend connection closed after the client left")


# ------------------------------------------------------------------------------ stale connections


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_backend_closing_an_idle_keepalive_connection_is_not_an_error(
    proxy: str, backend: RawBackend, http: aiohttp.ClientSession, method: str
) -> None:
    """A backend may close an idle persistent connection at any time (RFC 9112 §9.5); one the
    sidecar knows is closed is not used, so even a POST (which may not be retried) succeeds."""
    idle_close = asyncio.Event()

    async def then_close(_request: Message, conn: BackendConnection) -> bool:
        await conn.send(response(200, b"one"))
        await idle_close.wait()
        return False

    backend.handler = routes({"/one": then_close, "/two": answer(response(200, b"two"))})
    assert await _get(http, f"{proxy}/b/one") == (200, b"one")
    idle_close.set()
    stale = backend.used[0]
    await wait_for(stale.closed.is_set, STEP, what="the backend closing the idle connection")
    body = b'{"n": 2}' if method == "POST" else None
    assert await _get(http, f"{proxy}/b/two", method, data=body) == (200, b"two")
    first, second = backend.requests
    assert second.connection != first.connection
    assert second.body == (body or b"")


async def _close_unanswered(_request: Message, conn: BackendConnection) -> bool:
    return False


async def test_backend_closing_after_reading_the_request_is_502(
    proxy: str, backend: RawBackend, http: aiohttp.ClientSession
) -> None:
    """The backend reads the request and closes without a word: the client gets 502 (RFC 9110
    §15.6.3), promptly; a GET may be tried again once (RFC 9110 §9.2.2), not forever."""
    backend.handler = routes({"/one": answer(response(200, b"one")), "/drop": _close_unanswered})
    assert await _get(http, f"{proxy}/b/one") == (200, b"one")
    status, _ = await _get(http, f"{proxy}/b/drop")
    assert status == 502
    drops = [r for r in backend.requests if r.target == "/drop"]
    assert 1 <= len(drops) <= 2
    assert drops[0].connection == backend.requests[0].connection, "it was the kept-alive connection"


async def test_post_whose_connection_closed_unanswered_is_not_retried(
    proxy: str, backend: RawBackend, http: aiohttp.ClientSession
) -> None:
    """SECURITY: a proxy must not retry a non-idempotent request on its own (RFC 9110 §9.2.2):
    the backend may have acted on it. The client gets 502 and the backend saw it once."""
    attempts: list[int] = []

    async def drop_first(_request: Message, conn: BackendConnection) -> bool:
        attempts.append(conn.index)
        if len(attempts) == 1:
            return False
        await conn.send(response(200, b"acted twice"))
        return True

    backend.handler = routes({"/one": answer(response(200, b"one")), "/pay": drop_first})
    assert await _get(http, f"{proxy}/b/one") == (200, b"one")
    status, _ = await _get(http, f"{proxy}/b/pay", "POST", data=b'{"amount": 5}')
    assert status == 502
    assert len(attempts) == 1


# ------------------------------------------------------------------------------ property


TOKEN_CHARS = string.ascii_letters + string.digits + "-"
VALUE_CHARS = "".join(chr(c) for c in range(0x21, 0x7F))  # visible ASCII; inner spaces added below
STATUSES = [200, 201, 202, 203, 299, 400, 403, 404, 409, 418, 429, 500, 502, 503]


class Case(NamedTuple):
    status: int
    body: bytes
    headers: list[tuple[str, str]]
    framing: str
    raw: bytes  # the response as the backend writes it
    pieces: tuple[int, ...]  # the sizes of the writes it is cut into


@st.composite
def backend_responses(draw: st.DrawFn) -> Case:
    """A valid response with a body: any status that has one, random end-to-end headers, a
    small or a streamed-size body, framed by length, chunks of random sizes or the close, and
    cut into random writes."""
    status = draw(st.sampled_from(STATUSES))
    body = draw(
        st.binary(max_size=2048) | st.builds(_body, st.integers(60_000, 200_000), st.integers(0, 2**32))
    )
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    chunk_sizes = draw(st.lists(st.integers(1, 70_000), max_size=12))
    names = st.text(TOKEN_CHARS, min_size=1, max_size=12).map(lambda name: f"X-T-{name}")
    word = st.text(VALUE_CHARS, min_size=1, max_size=10)
    values = word | st.builds(lambda a, b: f"{a} {b}", word, word)
    headers = draw(st.lists(st.tuples(names, values), max_size=5, unique_by=lambda h: h[0].lower()))
    raw = response(status, body, framing=framing, headers=headers, chunk_sizes=chunk_sizes)
    pieces = draw(st.lists(st.integers(1, max(1, len(raw) // 2)), max_size=20))
    return Case(status, body, headers, framing, raw, tuple(pieces))


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(case=backend_responses())
async def test_any_split_of_any_valid_response_reaches_the_client_intact(
    proxy: str, backend: RawBackend, http: aiohttp.ClientSession, case: Case
) -> None:
    """Whatever the framing and wherever TCP splits it, the client gets the backend's status,
    end-to-end headers and body bytes. One backend and sidecar serve all examples (the
    function-scoped fixtures are set up once per test; each example re-scripts the backend)."""
    backend.reset(answer(case.raw, pieces=case.pieces, keep=case.framing != "close"))
    async with asyncio.timeout(STEP), http.get(f"{proxy}/b/any") as resp:
        got = (resp.status, await resp.read())
        got_headers = [(name, resp.headers.get(name)) for name, _ in case.headers]
    assert got == (case.status, case.body)
    assert got_headers == case.headers
