# SPDX-License-Identifier: Apache-2.0
"""The sidecar's own answers on legacy HTTP+SSE streams: found by announced endpoint and subject,
never written into another user's stream; the mailbox and the backend read together."""

from __future__ import annotations

import asyncio
import json

from aiohttp import StreamReader
from aiohttp.base_protocol import BaseProtocol

from sidecar.proxy.legacy import LegacySessions, StreamMailbox, mailbox


class _OpenProtocol(BaseProtocol):
    """A connection that stays open: the reader's data is fed by the test."""

    @property
    def connected(self) -> bool:
        return True


ERROR = {"jsonrpc": "2.0", "id": 3, "error": {"code": 403, "message": "call_tool on tool 'x' is not allowed"}}


async def test_answer_reaches_the_stream_of_the_same_subject_only() -> None:
    sessions, queue = LegacySessions(), mailbox()
    sessions.open("/messages/?session_id=abc", "alice", queue)
    assert not sessions.deliver("/messages/?session_id=abc", "mallory", ERROR)
    assert not sessions.deliver("/messages/?session_id=other", "alice", ERROR)
    assert sessions.deliver("/messages/?session_id=abc", "alice", ERROR)
    event = queue.get_nowait()
    assert event.startswith(b"event: message\ndata: ")
    assert event.endswith(b"\n\n")
    assert json.loads(event.split(b"data: ", 1)[1]) == ERROR
    sessions.discard(queue)
    assert not sessions.deliver("/messages/?session_id=abc", "alice", ERROR)


async def test_mailbox_and_backend_are_read_together() -> None:
    loop = asyncio.get_running_loop()
    content = StreamReader(_OpenProtocol(loop), 2**16, loop=loop)
    queue = mailbox()
    reader = StreamMailbox(content.readany, queue)
    pending = asyncio.ensure_future(reader.next())
    await asyncio.sleep(0)
    queue.put_nowait(b"ours")
    assert await pending == (b"ours", True)
    content.feed_data(b"backend")
    assert await reader.next() == (b"backend", False)
    content.feed_eof()
    assert await reader.next() == (b"", False)
    reader.close()
