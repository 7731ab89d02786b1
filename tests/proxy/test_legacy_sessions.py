# SPDX-License-Identifier: Apache-2.0
"""The sidecar's own answers on legacy HTTP+SSE streams: found by announced endpoint and subject,
never written into another user's stream; the mailbox and the backend read with one wait."""

from __future__ import annotations

import asyncio
import json

from yarl import URL

from sidecar.proxy.legacy import LegacySessions, Mailbox
from sidecar.proxy.pool import BackendPool, Origin
from sidecar.proxy.relay import next_piece

ERROR = {"jsonrpc": "2.0", "id": 3, "error": {"code": 403, "message": "call_tool on tool 'x' is not allowed"}}


async def test_answer_reaches_the_stream_of_the_same_subject_only() -> None:
    sessions, mailbox = LegacySessions(), Mailbox()
    sessions.open("/messages/?session_id=abc", "alice", mailbox)
    assert not sessions.deliver("/messages/?session_id=abc", "mallory", ERROR)
    assert not sessions.deliver("/messages/?session_id=other", "alice", ERROR)
    assert sessions.deliver("/messages/?session_id=abc", "alice", ERROR)
    event = mailbox.take()
    assert event is not None
    assert event.startswith(b"event: message\ndata: ")
    assert event.endswith(b"\n\n")
    assert json.loads(event.split(b"data: ", 1)[1]) == ERROR
    assert mailbox.take() is None
    sessions.discard(mailbox)
    assert not sessions.deliver("/messages/?session_id=abc", "alice", ERROR)


async def test_a_full_mailbox_refuses_more() -> None:
    mailbox = Mailbox()
    taken = [mailbox.put(b"x") for _ in range(100)]
    assert taken.count(True) == 64
    assert taken[-1] is False


async def test_mailbox_and_backend_are_read_with_one_wait() -> None:
    """An answer put in the mailbox ends the relay's wait on the backend; the backend's bytes
    and its end still come through."""
    writers: list[asyncio.StreamWriter] = []
    headed = asyncio.Event()

    async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writers.append(writer)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        await writer.drain()
        headed.set()

    server = await asyncio.start_server(stream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = BackendPool()
    try:
        origin = Origin.of(URL(f"http://127.0.0.1:{port}/sse"))
        backend = await pool.send(origin, "GET", "/sse", [], None, connect_timeout=5, read_timeout=5)
        mailbox = Mailbox()
        mailbox.wake = backend.wake
        pending = asyncio.ensure_future(next_piece(backend, mailbox, None))
        await headed.wait()
        assert not pending.done()
        assert mailbox.put(b"ours")
        assert await pending == (b"ours", True)
        writers[0].write(b"7\r\nbackend\r\n")
        assert await next_piece(backend, mailbox, None) == (b"backend", False)
        writers[0].write(b"0\r\n\r\n")
        assert await next_piece(backend, mailbox, None) == (b"", False)
        backend.release()
    finally:
        await pool.close()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()
