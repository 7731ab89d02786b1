# SPDX-License-Identifier: Apache-2.0
"""Answers the sidecar itself owes on a legacy HTTP+SSE stream (MCP 2024-11-05).

On that transport the answer to a POSTed request arrives on the event stream the client opened
with GET, not on the POST (which gets 202). A request the policies deny never reaches the
backend, so its JSON-RPC error must be put on that stream by the sidecar: the stream is found by
the message endpoint the backend announced on it (the POST's path and query, session id
included) and by the token subject that opened it (SECURITY: one user cannot write into another
user's stream by learning their session id).

A ``Mailbox`` holds those answers for one stream; putting one in wakes the stream's relay, which
waits on the backend's bytes and the mailbox with one wait (no task per read).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

_MAILBOX_SIZE = 64  # answers waiting to be written; past it a denial is answered on the POST


class Mailbox:
    """The sidecar's own answers waiting to be written on one legacy stream."""

    __slots__ = ("_events", "wake")

    def __init__(self) -> None:
        self._events: deque[bytes] = deque()
        self.wake: Callable[[], None] = _nothing  # set by the relay: interrupts its wait

    def put(self, event: bytes) -> bool:
        if len(self._events) >= _MAILBOX_SIZE:
            return False
        self._events.append(event)
        self.wake()
        return True

    def take(self) -> bytes | None:
        return self._events.popleft() if self._events else None


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class _Stream:
    subject: str | None
    mailbox: Mailbox


class LegacySessions:
    """The open legacy streams of one backend, by announced message endpoint."""

    def __init__(self) -> None:
        self._streams: dict[str, _Stream] = {}

    def open(self, endpoint: str, subject: str | None, mailbox: Mailbox) -> None:
        self._streams[endpoint] = _Stream(subject, mailbox)

    def discard(self, mailbox: Mailbox) -> None:
        """Forget the stream of this mailbox (it ended)."""
        for endpoint in [e for e, stream in self._streams.items() if stream.mailbox is mailbox]:
            del self._streams[endpoint]

    def deliver(self, endpoint: str, subject: str | None, message: dict[str, object]) -> bool:
        """Queue ``message`` as an event on the stream that announced ``endpoint``; False when
        there is none for this subject (or it is full)."""
        stream = self._streams.get(endpoint)
        if stream is None or stream.subject != subject:
            return False
        return stream.mailbox.put(b"event: message\ndata: " + json.dumps(message).encode() + b"\n\n")
