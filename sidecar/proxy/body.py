# SPDX-License-Identifier: Apache-2.0
"""Reading the client's request body under the configured size limit.

Small bodies with a declared length (every JSON-RPC message in practice) are read whole, so the
MCP method can be counted and a JSON-RPC error can answer for an unreachable backend. Larger or
chunked bodies are streamed to the backend chunk by chunk, counted on the way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import StreamReader

BUFFER_LIMIT = 64 * 1024


class BodyTooLarge(Exception):
    """The body is larger than ``server.max_request_body`` (answered with 413)."""


class BodyTimeout(Exception):
    """The client stopped sending its body (answered with 408)."""


class StreamedBody:
    """An async iterable of body chunks that stops at the size limit and remembers why."""

    def __init__(self, content: StreamReader, limit: int, idle_timeout: float) -> None:
        self._content = content
        self._limit = limit
        self._idle = idle_timeout
        self.error: BodyTooLarge | BodyTimeout | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        while True:
            try:
                async with asyncio.timeout(self._idle):
                    chunk = await self._content.readany()
            except TimeoutError:
                self.error = BodyTimeout()
                raise self.error from None
            if not chunk:
                return
            seen += len(chunk)
            if seen > self._limit:
                self.error = BodyTooLarge()
                raise self.error
            yield chunk


async def read_small_body(content: StreamReader, length: int, idle_timeout: float) -> bytes:
    if content.is_eof():  # it all arrived with the head (the usual case): nothing to wait for
        return await content.readexactly(length)
    try:
        async with asyncio.timeout(idle_timeout):
            return await content.readexactly(length)
    except TimeoutError:
        raise BodyTimeout from None
