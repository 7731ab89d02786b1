# SPDX-License-Identifier: Apache-2.0
"""Reading a client's request body under a size limit and a deadline: the one reader of the
proxy (``proxy/forwarder.py``) and of the authorization server's forms (``authserver/web.py``).

The limit counts the bytes actually read, whatever ``Content-Length`` or the chunking claimed; a
declared length over the limit is refused before a byte is read. A body is read whole
(``read``, one deadline for all of it) or passed on chunk by chunk (iteration, one deadline per
chunk). Each caller maps the errors to its own wire shape::

    BodyError
     ├─ BodyTooLarge     more bytes than the limit (the proxy answers 413)
     ├─ BodyTimeout      the client stopped sending (408)
     └─ BodyIncomplete   the body ended before its Content-Length, or its framing broke (400)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import StreamReader
from aiohttp.http_exceptions import HttpProcessingError


class BodyError(Exception):
    """The request body could not be read whole."""


class BodyTooLarge(BodyError):
    """The body is larger than the limit."""


class BodyTimeout(BodyError):
    """The client stopped sending its body."""


class BodyIncomplete(BodyError):
    """The body ended before its declared length, or the connection or its framing broke."""


class BoundedBody:
    """One request body, read once: whole with ``read()``, or as chunks with ``async for``
    (``error`` then tells why the iteration stopped early)."""

    def __init__(self, content: StreamReader, *, declared: int | None, limit: int, timeout: float) -> None:
        # SECURITY: refused before reading, so a client cannot make the sidecar read (and a
        # backend receive) the first ``limit`` bytes of a body that is too large anyway.
        if declared is not None and declared > limit:
            raise BodyTooLarge
        self._content = content
        self.declared = declared
        self._limit = limit
        self._timeout = timeout
        self.error: BodyError | None = None

    async def read(self) -> bytes:
        """The whole body, within the deadline counted from now."""
        if self._content.is_eof():
            return self._arrived()
        body = bytearray()
        try:
            async with asyncio.timeout(self._timeout):
                async for chunk in self:
                    body += chunk
        except TimeoutError:
            self.error = BodyTimeout()
            raise self.error from None
        return bytes(body)

    def _arrived(self) -> bytes:
        """Usually the whole body came with the head: taken in one piece, with no timer and no
        iteration, under the same checks as chunk by chunk."""
        try:
            try:
                body = self._content.read_nowait()  # everything buffered: no more is coming
            except (OSError, HttpProcessingError, asyncio.IncompleteReadError):
                raise BodyIncomplete from None
            # SECURITY: counted as read, as in the iteration below.
            if len(body) > self._limit:
                raise BodyTooLarge
            if self.declared is not None and len(body) < self.declared:
                raise BodyIncomplete
        except BodyError as error:
            self.error = error
            raise
        return body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        seen = 0
        try:
            while chunk := await self._next_chunk():
                # SECURITY: counted as read; a chunked body or a lying Content-Length is capped too.
                seen += len(chunk)
                if seen > self._limit:
                    raise BodyTooLarge
                yield chunk
            if self.declared is not None and seen < self.declared:
                raise BodyIncomplete
        except BodyError as error:
            self.error = error
            raise

    async def _next_chunk(self) -> bytes:
        try:
            if self._content.is_eof():
                return await self._content.readany()
            async with asyncio.timeout(self._timeout):
                return await self._content.readany()
        except TimeoutError:
            raise BodyTimeout from None
        except (OSError, HttpProcessingError, asyncio.IncompleteReadError):
            # The connection was lost mid-body, or a chunk's framing was invalid.
            raise BodyIncomplete from None
