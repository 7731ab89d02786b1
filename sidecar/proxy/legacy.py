# SPDX-License-Identifier: Apache-2.0
"""Answers the sidecar itself owes on a legacy HTTP+SSE stream (MCP 2024-11-05).

On that transport the answer to a POSTed request arrives on the event stream the client opened
with GET, not on the POST (which gets 202). A request the policies deny never reaches the
backend, so its JSON-RPC error must be put on that stream by the sidecar: the stream is found by
the message endpoint the backend announced on it (the POST's path and query, session id
included) and by the token subject that opened it (SECURITY: one user cannot write into another
user's stream by learning their session id).

``StreamMailbox`` waits on the backend and the mailbox at once; it is used only on these streams.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

_MAILBOX_SIZE = 64  # answers waiting to be written; past it a denial is answered on the POST


@dataclass(frozen=True, slots=True)
class _Stream:
    subject: str | None
    queue: asyncio.Queue[bytes]


def mailbox() -> asyncio.Queue[bytes]:
    return asyncio.Queue(_MAILBOX_SIZE)


class LegacySessions:
    """The open legacy streams of one backend, by announced message endpoint."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}

    def open(self, endpoint: str, subject: str | None, queue: asyncio.Queue[bytes]) -> None:
        self._streams[endpoint] = _Stream(subject, queue)

    def discard(self, queue: asyncio.Queue[bytes]) -> None:
        """Forget the stream of this mailbox (it ended)."""
        for endpoint in [e for e, stream in self._streams.items() if stream.queue is queue]:
            del self._streams[endpoint]

    def deliver(self, endpoint: str, subject: str | None, message: dict[str, object]) -> bool:
        """Queue ``message`` as an event on the stream that announced ``endpoint``; False when
        there is none for this subject (or it is full)."""
        stream = self._streams.get(endpoint)
        if stream is None or stream.subject != subject:
            return False
        event = b"event: message\ndata: " + json.dumps(message).encode() + b"\n\n"
        try:
            stream.queue.put_nowait(event)
        except asyncio.QueueFull:
            return False
        return True


class StreamMailbox:
    """Reads a backend stream and a mailbox together: whichever has something first."""

    def __init__(self, read: Callable[[], Awaitable[bytes]], queue: asyncio.Queue[bytes]) -> None:
        self._read_backend, self._queue = read, queue
        self._read: asyncio.Future[bytes] | None = None

    async def next(self) -> tuple[bytes, bool]:
        """The next chunk of the backend (False) or a queued event (True)."""
        if not self._queue.empty():
            return self._queue.get_nowait(), True
        if self._read is None:
            self._read = asyncio.ensure_future(self._read_backend())
        getter = asyncio.ensure_future(self._queue.get())
        try:
            await asyncio.wait({self._read, getter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result(), True
        read, self._read = self._read, None
        return read.result(), False

    def close(self) -> None:
        """Stop the pending read (on every way out of the stream)."""
        if self._read is not None and not self._read.done():
            self._read.cancel()
        self._read = None
