# SPDX-License-Identifier: Apache-2.0
"""Rewriting the ``endpoint`` event of the legacy HTTP+SSE transport (MCP 2024-11-05), sans-IO.

The backend announces where to POST messages (``event: endpoint``, ``data: <URI>``). The URI is
resolved against the backend's SSE URL and handed on as a path-absolute reference, so the client
resolves it against the sidecar's own public origin. Everything after that event is passed
through byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

# An event ends at a blank line; lines end in CRLF, LF or CR (WHATWG HTML §9.2.6).
_EVENT_END = re.compile(rb"(\r\n|\r(?!\n)|\n)(\r\n|\r(?!\n)|\n)")
_LINE = re.compile(rb"\r\n|\r|\n")
MAX_PENDING = 64 * 1024


class EndpointRewriter:
    """Feed stream chunks in, get bytes to send out; ``rewrite`` maps the announced URI."""

    def __init__(self, rewrite: Callable[[str], str]) -> None:
        self._rewrite = rewrite
        self._pending = b""
        self.done = False

    def feed(self, chunk: bytes) -> bytes:
        if self.done:
            return chunk
        self._pending += chunk
        out = bytearray()
        while not self.done:
            match = _EVENT_END.search(self._pending)
            # A CR at the very end may be the first half of a CRLF still on its way.
            if match is None or (match.end() == len(self._pending) and self._pending.endswith(b"\r")):
                break
            event, self._pending = self._pending[: match.end()], self._pending[match.end() :]
            out += self._rewrite_event(event)
        if len(self._pending) > MAX_PENDING:
            # Not an SSE stream we understand: give up rewriting rather than buffer without bound.
            self.done = True
        if self.done:
            out += self.flush()
        return bytes(out)

    def flush(self) -> bytes:
        pending, self._pending = self._pending, b""
        return pending

    def _rewrite_event(self, event: bytes) -> bytes:
        lines = _LINE.split(event)
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
