# SPDX-License-Identifier: Apache-2.0
"""Rewriting the ``endpoint`` event of the legacy HTTP+SSE transport (MCP 2024-11-05), sans-IO.

The backend announces where to POST messages (``event: endpoint``, ``data: <URI>``). The URI is
resolved against the backend's SSE URL and handed on as a path-absolute reference, so the client
resolves it against the sidecar's own public origin. Everything after that event is passed
through byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol
from urllib.parse import urljoin, urlsplit

# An event ends at a blank line; lines end in CRLF, LF or CR (WHATWG HTML §9.2.6).
_EVENT_END = re.compile(rb"(\r\n|\r(?!\n)|\n)(\r\n|\r(?!\n)|\n)")
_LINE = re.compile(rb"\r\n|\r|\n")
MAX_PENDING = 64 * 1024


class EventSplitter:
    """Cuts a byte stream into whole events (each with its blank line); keeps only the
    unfinished event, so memory is bounded by the largest event, not by the stream."""

    def __init__(self) -> None:
        self._pending = b""

    def __len__(self) -> int:
        return len(self._pending)

    def feed(self, chunk: bytes) -> list[bytes]:
        # An event end is at most 4 bytes, and none lay wholly in what was pending before.
        start = max(0, len(self._pending) - 4)
        self._pending += chunk
        events: list[bytes] = []
        while (match := _EVENT_END.search(self._pending, start)) is not None:
            # A CR at the very end may be the first half of a CRLF still on its way.
            if match.end() == len(self._pending) and self._pending.endswith(b"\r"):
                break
            events.append(self._pending[: match.end()])
            self._pending, start = self._pending[match.end() :], 0
        return events

    def flush(self) -> bytes:
        pending, self._pending = self._pending, b""
        return pending


class StreamEdit(Protocol):
    """Bytes of a stream in, bytes to send out; ``flush`` at its end."""

    def feed(self, chunk: bytes) -> bytes: ...

    def flush(self) -> bytes: ...


class EditChain:
    """Several edits, each fed what the one before it let out."""

    def __init__(self, edits: Sequence[StreamEdit]) -> None:
        self._edits = tuple(edits)

    def feed(self, chunk: bytes) -> bytes:
        for edit in self._edits:
            if not chunk:
                break
            chunk = edit.feed(chunk)
        return chunk

    def flush(self) -> bytes:
        rest = b""
        for edit in self._edits:
            rest = (edit.feed(rest) if rest else b"") + edit.flush()
        return rest


def split_lines(event: bytes) -> list[bytes]:
    """The lines of one event (the blank line that ended it gives empty strings at the end)."""
    return _LINE.split(event)


class EndpointRewriter:
    """Feed stream chunks in, get bytes to send out; ``rewrite`` maps the announced URI."""

    def __init__(self, rewrite: Callable[[str], str]) -> None:
        self._rewrite = rewrite
        self._events = EventSplitter()
        self.done = False

    def feed(self, chunk: bytes) -> bytes:
        if self.done:
            return chunk
        out = bytearray()
        for event in self._events.feed(chunk):
            out += self._rewrite_event(event)
        if len(self._events) > MAX_PENDING:
            # Not an SSE stream we understand: give up rewriting rather than buffer without bound.
            self.done = True
        if self.done:
            out += self.flush()
        return bytes(out)

    def flush(self) -> bytes:
        return self._events.flush()

    def _rewrite_event(self, event: bytes) -> bytes:
        if self.done:  # only the first endpoint event is the transport's
            return event
        lines = split_lines(event)
        if b"event: endpoint" not in lines and b"event:endpoint" not in lines:
            return event
        self.done = True
        rewritten = [
            b"data: " + self._rewrite(line[5:].removeprefix(b" ").decode("utf-8", "replace")).encode()
            if line.startswith(b"data:")
            else line
            for line in lines
        ]
        return b"\n".join(rewritten)


def relative_endpoint(announced: str, backend_sse_url: str) -> str:
    """The announced message URI as a path-absolute reference (path and query)."""
    parts = urlsplit(urljoin(backend_sse_url, announced))
    return parts.path + (f"?{parts.query}" if parts.query else "")
