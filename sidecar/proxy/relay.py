# SPDX-License-Identifier: Apache-2.0
"""Relaying a backend's response to the client: small bodies in one write, list results filtered
whole, streams chunk by chunk through their edits (the legacy ``endpoint`` rewrite, the list
filter) with the sidecar's own answers merged in on legacy streams. ``await write`` is the
back-pressure point; SSE has no total timeout."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from aiohttp import web
from multidict import CIMultiDict

from sidecar.authz.gate import ListFilter
from sidecar.authz.listfilter import EventTooLarge
from sidecar.observability.access import RequestInfo, json_error
from sidecar.observability.metrics import Metrics
from sidecar.proxy import cors
from sidecar.proxy.headers import response_headers_for_client
from sidecar.proxy.legacy import LegacySessions, Mailbox
from sidecar.proxy.pool import BackendError, BackendResponse, BodyTooLarge
from sidecar.proxy.routing import Route, RouteKind
from sidecar.proxy.sse import EditChain, EndpointRewriter, StreamEdit, relative_endpoint

log = structlog.get_logger("sidecar.proxy")

_READ_ALL_LIMIT = 64 * 1024  # responses with a known length up to this are relayed in one write
# A list response is filtered whole when it is not an event stream; past this it is refused.
_LIST_LIMIT = 16 * 1024 * 1024


class Relay:
    def __init__(self, route: Route, metrics: Metrics, sessions: LegacySessions | None) -> None:
        self.route = route
        self._backend = route.backend
        self._name = route.backend.name
        self._metrics = metrics
        self._sessions = sessions  # legacy HTTP+SSE streams, where denials are answered
        self._active_streams = metrics.active_streams.labels(self._name)

    async def relay(
        self,
        request: web.Request,
        backend: BackendResponse,
        info: RequestInfo,
        origin: str | None,
        listing: ListFilter | None,
    ) -> web.StreamResponse:
        is_sse = backend.content_type == "text/event-stream"
        headers = response_headers_for_client(backend.headers, is_event_stream=is_sse)
        headers["X-Request-Id"] = info.request_id
        if (location := headers.get("Location")) is not None:
            headers["Location"] = self.route.public_location(location)
        length = backend.content_length
        if listing is not None and headers.get("Content-Encoding", "identity") != "identity":
            # SECURITY: a list that cannot be read cannot be filtered, so it does not pass.
            return json_error(502, "bad_gateway", f"backend {self._name!r} sent an encoded list response")
        filter_whole = listing is not None and not is_sse and request.method != "HEAD"
        if filter_whole or (
            not is_sse and length is not None and length <= _READ_ALL_LIMIT and request.method != "HEAD"
        ):
            return await self._relay_whole(backend, headers, info, listing)

        if origin is not None:
            cors.apply_to_response(headers, origin)  # before prepare(); handle() is too late
        response = web.StreamResponse(status=backend.status, reason=backend.reason, headers=headers)
        await response.prepare(request)
        info.first_byte = time.perf_counter()
        if is_sse:
            self._active_streams.inc()
        mailbox, mailbox_for = self._mailbox(is_sse, listing, info)
        try:
            await self._pump(
                request,
                backend,
                response,
                is_sse=is_sse,
                info=info,
                edits=self._edits(backend, is_sse, listing, mailbox_for),
                mailbox=mailbox,
            )
        finally:
            if is_sse:
                self._active_streams.dec()
            if mailbox is not None and self._sessions is not None:
                self._sessions.discard(mailbox)
        return response

    async def _relay_whole(
        self,
        backend: BackendResponse,
        headers: CIMultiDict[str],
        info: RequestInfo,
        listing: ListFilter | None,
    ) -> web.Response:
        try:
            # The timer is armed only while waiting for bytes: none when the body is all here.
            payload = await backend.read(_LIST_LIMIT, self._backend.read_timeout)
        except BackendError as exc:
            self._metrics.backend_errors.labels(self._name, exc.reason).inc()
            log.warning("backend_response_failed", backend=self._name, error=exc.reason)
            return json_error(502, "bad_gateway", f"backend {self._name!r} failed mid-response")
        except BodyTooLarge:
            return json_error(502, "bad_gateway", f"backend {self._name!r} sent a list too large to filter")
        info.first_byte = time.perf_counter()
        if listing is not None:
            payload = listing.json(payload)
            headers.popall("Content-Length", None)
        return web.Response(status=backend.status, reason=backend.reason, body=payload, headers=headers)

    def _mailbox(
        self, is_sse: bool, listing: ListFilter | None, info: RequestInfo
    ) -> tuple[Mailbox | None, Callable[[str], None] | None]:
        """On a legacy stream with policies on: a mailbox for the sidecar's own answers, and
        what registers it once the backend announced the stream's message endpoint. (The list
        filter lets out whole events only, so an answer never lands inside one.)"""
        sessions = self._sessions
        if sessions is None or listing is None or not is_sse or self.route.kind is not RouteKind.SSE_STREAM:
            return None, None
        mailbox = Mailbox()
        subject = info.subject
        return mailbox, lambda endpoint: sessions.open(endpoint, subject, mailbox)

    def _edits(
        self,
        backend: BackendResponse,
        is_sse: bool,
        listing: ListFilter | None,
        announced: Callable[[str], None] | None,
    ) -> EditChain | None:
        if not is_sse:
            return None
        edits: list[StreamEdit] = []
        if self.route.kind is RouteKind.SSE_STREAM:

            def rewrite(uri: str) -> str:
                endpoint = relative_endpoint(uri, backend.url)
                if announced is not None:
                    announced(endpoint)
                return endpoint

            edits.append(EndpointRewriter(rewrite))
        if listing is not None:
            edits.append(listing.sse())
        return EditChain(edits) if edits else None

    async def _pump(
        self,
        request: web.Request,
        backend: BackendResponse,
        response: web.StreamResponse,
        *,
        is_sse: bool,
        info: RequestInfo,
        edits: EditChain | None,
        mailbox: Mailbox | None = None,
    ) -> None:
        idle = self._backend.sse_read_timeout if is_sse else self._backend.read_timeout
        if mailbox is not None:
            mailbox.wake = backend.wake
        try:
            while True:
                # One wait on the backend's bytes (a timer only when idle is set and nothing is
                # buffered), one write; back-pressure: while the client's transport is full,
                # write waits, the buffer fills and the backend's reads pause.
                chunk, ours = await next_piece(backend, mailbox, idle)
                if ours:
                    await response.write(chunk)  # the sidecar's own answer, a whole event
                    continue
                if not chunk:
                    break
                if edits is not None and not (chunk := edits.feed(chunk)):
                    continue
                await response.write(chunk)
        except EventTooLarge:
            # SECURITY: an event too large to filter is not passed on; the stream is cut.
            log.warning("authz_event_too_large", backend=self._name, request_id=info.request_id)
            info.outcome = "authz_event_too_large"
            return
        except ConnectionResetError:
            # The client went away while we wrote; the backend request is closed on return.
            self._metrics.client_disconnects.labels(self._name).inc()
            info.outcome = "client_disconnect"
            return
        except BackendError as exc:
            reason = exc.reason
            self._metrics.backend_errors.labels(self._name, reason).inc()
            info.outcome = f"backend_{reason}"
            log.warning("backend_stream_ended", backend=self._name, reason=reason, request_id=info.request_id)
            if not is_sse:
                # A truncated body must not look complete: drop the client connection.
                request.protocol.force_close()
                if request.transport is not None:
                    request.transport.abort()
                return
        await _finish(response, edits)


async def _finish(response: web.StreamResponse, edits: EditChain | None) -> None:
    try:
        rest = edits.flush() if edits is not None else b""
    except EventTooLarge:
        return  # cut, as mid-stream
    if rest:
        await response.write(rest)
    await response.write_eof()


async def next_piece(
    backend: BackendResponse, mailbox: Mailbox | None, idle: float | None
) -> tuple[bytes, bool]:
    """The backend's next bytes (False), or the sidecar's own answer from the mailbox (True): one
    wait for both, which a delivered answer ends."""
    if mailbox is None:
        return await backend.readany(idle), False
    while (ours := mailbox.take()) is None:
        if (chunk := await backend.readany_or_woken(idle)) is not None:
            return chunk, False
    return ours, True
