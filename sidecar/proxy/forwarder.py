# SPDX-License-Identifier: Apache-2.0
"""The streaming forwarder: one aiohttp handler per backend route.

Flow: Host and Origin checks (CORS preflights answered here) → path confinement → bearer-token
authentication, before any body byte is read → read or stream the body under the limit → backend
headers (identity headers added) → send → relay the response. SSE is written event by event as
it arrives (``await write`` is the back-pressure point) with no total timeout; a client
disconnect cancels this handler
(``handler_cancellation``), which closes the backend request at once — in the 2026-07-28 MCP
revision that is how a client cancels a request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Callable

import aiohttp
import structlog
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from sidecar.authn.authenticator import Authenticator, reason_of
from sidecar.authn.errors import AuthError
from sidecar.observability.access import REQUEST_INFO, RequestInfo, json_error
from sidecar.observability.metrics import Metrics
from sidecar.observability.spans import NO_TRACING, RequestTracing
from sidecar.proxy import cors, jsonrpc
from sidecar.proxy.forwarded import Forwarded, ProxyTrust
from sidecar.proxy.headers import request_headers_for_backend, response_headers_for_client
from sidecar.proxy.origin import BadHost, HostPolicy, OriginPolicy, request_authority
from sidecar.proxy.routing import Route, RouteKind
from sidecar.proxy.sse import EndpointRewriter, relative_endpoint
from sidecar.request_body import BodyError, BodyTimeout, BodyTooLarge, BoundedBody

log = structlog.get_logger("sidecar.proxy")

_READ_ALL_LIMIT = 64 * 1024  # responses with a known length up to this are relayed in one write
# Request bodies with a declared length up to this (every JSON-RPC message in practice) are read
# whole, so the MCP method can be counted and a JSON-RPC error can answer for an unreachable
# backend; larger or chunked bodies are streamed to the backend chunk by chunk.
_BUFFER_LIMIT = 64 * 1024
# JSON-RPC "implementation-defined server error" range (JSON-RPC 2.0 §5.1).
_RPC_BACKEND_UNAVAILABLE = -32001
_RPC_BACKEND_TIMEOUT = -32002


class BackendFailure(Exception):
    def __init__(self, status: int, reason: str, description: str) -> None:
        super().__init__(description)
        self.status, self.reason, self.description = status, reason, description


class Forwarder:
    def __init__(
        self,
        route: Route,
        *,
        session_provider: Callable[[], aiohttp.ClientSession],
        metrics: Metrics,
        trust: ProxyTrust,
        origins: OriginPolicy,
        hosts: HostPolicy,
        authenticator: Authenticator | None,
        max_body: int,
        idle_timeout: float,
        tracing: RequestTracing = NO_TRACING,
    ) -> None:
        self.route = route
        self._backend = route.backend
        self._name = route.backend.name
        self._session = session_provider  # the shared session exists only once the app started
        self._metrics = metrics
        self._trust = trust
        self._origins = origins
        self._hosts = hosts
        self._auth = authenticator
        # Client-sent copies of the identity headers the sidecar sets are dropped first.
        self._drop = authenticator.identity_header_names if authenticator is not None else frozenset()
        self._max_body = max_body
        self._idle_timeout = idle_timeout
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=route.backend.connect_timeout, sock_connect=route.backend.connect_timeout
        )
        self._active_streams = metrics.active_streams.labels(self._name)
        self._tracing = tracing

    async def handle(self, request: web.Request) -> web.StreamResponse:
        info = request[REQUEST_INFO]
        info.backend = self._name
        try:
            authority, bad_host = request_authority(request.headers.get("Host"), request.raw_path), None
        except BadHost as exc:
            authority, bad_host = None, exc
        forwarded = self._trust.resolve(
            request.remote or "",
            own_proto=request.scheme,
            # The value the Host check reads; the socket address only when no Host was sent.
            own_host=authority if authority is not None else request.host,
            xff=request.headers.getall("X-Forwarded-For", ()),
            xf_proto=request.headers.get("X-Forwarded-Proto"),
            xf_host=request.headers.get("X-Forwarded-Host"),
        )
        info.client_ip = forwarded.client_ip  # logged for refused requests too
        if bad_host is not None:
            return json_error(400, "invalid_host", str(bad_host))
        if not self._hosts.allows(authority):
            return json_error(421, "misdirected_request", "this Host is not served here")
        origins = request.headers.getall("Origin", [])
        if len(origins) > 1:
            # SECURITY: only the first would be checked, and a later hop may read another one.
            # RFC 6454 §7.3: a user agent never sends more than one Origin.
            return json_error(403, "origin_not_allowed", "a request may carry one Origin header, not several")
        origin = origins[0] if origins else None
        if origin is not None:
            if not self._origins.allows(origin):
                message = f"Origin {origin!r} is not allowed to call this server"
                return json_error(403, "origin_not_allowed", message)
            if cors.is_preflight(request.method, request.headers):
                return _preflight(origin, request.headers.get("Access-Control-Request-Headers"))
        response = await self._checked(request, info, origin, forwarded)
        if origin is not None and not response.prepared:
            cors.apply_to_response(response.headers, origin)  # errors the sidecar made, too
        return response

    async def _checked(
        self, request: web.Request, info: RequestInfo, origin: str | None, forwarded: Forwarded
    ) -> web.StreamResponse:
        target = self.route.target_for(request.rel_url.raw_path, request.rel_url.raw_query_string)
        if target is None:
            return json_error(400, "invalid_path", "the path is not a plain path below this route")
        identity_headers: dict[str, str] = {}
        if self._auth is not None:
            # Before the body is read: an unauthenticated client gets nothing forwarded.
            try:
                with self._tracing.authentication():
                    identity = await self._auth.authenticate(request, self._name)
            except AuthError as error:
                info.outcome = f"auth_{reason_of(error)}"
                return self._auth.error_response(error, self._name, self.route.prefix)
            info.subject = identity.subject
            identity_headers = self._auth.identity_headers(identity)
        if request.headers.get("Expect", "").lower() == "100-continue" and request.version >= (1, 1):
            # Only now may the client send its body (see expect_later).
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            body = await self._body(request)
        except BodyError as error:
            return self._body_error(error)
        rpc = jsonrpc.summarize(body) if isinstance(body, bytes) and body else None
        if rpc is not None:
            info.mcp_method = rpc.method
            self._metrics.count_mcp(self._name, rpc.method)
        elif (header_method := request.headers.get("Mcp-Method")) is not None:
            info.mcp_method = header_method if header_method in jsonrpc.MCP_METHODS else "other"
        return await self._forward(
            request,
            info,
            target=target,
            body=body,
            rpc=rpc,
            origin=origin,
            extra_headers={**forwarded.headers(), "X-Request-Id": info.request_id, **identity_headers},
        )

    async def _forward(
        self,
        request: web.Request,
        info: RequestInfo,
        *,
        target: URL,
        body: bytes | BoundedBody | None,
        rpc: jsonrpc.RpcSummary | None,
        origin: str | None,
        extra_headers: dict[str, str],
    ) -> web.StreamResponse:
        headers = request_headers_for_backend(
            request.headers,
            forwarded=extra_headers,
            drop=self._drop,
            backend_origin=self.route.target_origin,
            keep_content_length=isinstance(body, BoundedBody),
        )
        try:
            with self._tracing.backend_call(self._name, request.method, target, headers) as call:
                backend_response = await self._send(request.method, target, headers, body)
                call.responded(backend_response.status)
        except BackendFailure as failure:
            if isinstance(body, BoundedBody) and body.error is not None:
                return self._body_error(body.error)  # the body, not the backend, failed
            return self._failure_response(failure, rpc)
        try:
            return await self._relay(request, backend_response, info, origin)
        except asyncio.CancelledError:
            # handler_cancellation: the client went away (or the drain deadline passed).
            if request.transport is None or request.transport.is_closing():
                self._metrics.client_disconnects.labels(self._name).inc()
                info.outcome = "client_disconnect"
            raise
        finally:
            _close(backend_response)

    async def _body(self, request: web.Request) -> bytes | BoundedBody | None:
        if not request.body_exists:
            return None
        length = request.content_length
        body = BoundedBody(request.content, declared=length, limit=self._max_body, timeout=self._idle_timeout)
        if length is not None and length <= _BUFFER_LIMIT:
            return await body.read()
        return body

    async def _send(
        self, method: str, target: URL, headers: CIMultiDict[str], body: bytes | BoundedBody | None
    ) -> aiohttp.ClientResponse:
        data: bytes | AsyncIterable[bytes] | None = (
            body.__aiter__() if isinstance(body, BoundedBody) else body
        )
        read_timeout = self._backend.read_timeout
        try:
            async with asyncio.timeout(read_timeout):
                return await self._session().request(
                    method,
                    target,
                    headers=headers,
                    data=data,
                    allow_redirects=False,
                    timeout=self._timeout,
                )
        except aiohttp.ConnectionTimeoutError:
            # Checked before TimeoutError, its base: a backend that does not accept is down (502).
            self._metrics.backend_errors.labels(self._name, "connect").inc()
            raise BackendFailure(502, "bad_gateway", f"backend {self._name!r} is unavailable") from None
        except TimeoutError:
            self._metrics.backend_errors.labels(self._name, "timeout").inc()
            raise BackendFailure(
                504, "backend_timeout", f"backend {self._name!r} did not answer in time"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            if isinstance(body, BoundedBody) and body.error is not None:
                raise BackendFailure(
                    502, "bad_gateway", "the request body failed"
                ) from None  # the client's fault
            reason = "connect" if isinstance(exc, aiohttp.ClientConnectorError | OSError) else "disconnect"
            self._metrics.backend_errors.labels(self._name, reason).inc()
            log.warning("backend_unavailable", backend=self._name, error=type(exc).__name__)
            raise BackendFailure(502, "bad_gateway", f"backend {self._name!r} is unavailable") from None

    def _failure_response(self, failure: BackendFailure, rpc: jsonrpc.RpcSummary | None) -> web.Response:
        if rpc is not None and rpc.is_request:
            code = _RPC_BACKEND_TIMEOUT if failure.status == 504 else _RPC_BACKEND_UNAVAILABLE
            return web.json_response(
                jsonrpc.error_body(rpc.id, code, failure.description), status=failure.status
            )
        return json_error(failure.status, failure.reason, failure.description)

    def _body_error(self, error: BodyError) -> web.Response:
        if isinstance(error, BodyTooLarge):
            return json_error(
                413, "request_too_large", f"the request body is larger than {self._max_body} bytes"
            )
        if isinstance(error, BodyTimeout):
            return json_error(408, "request_timeout", "the request body did not arrive in time")
        return json_error(400, "incomplete_body", "the request body ended before it was complete")

    async def _relay(
        self, request: web.Request, backend: aiohttp.ClientResponse, info: RequestInfo, origin: str | None
    ) -> web.StreamResponse:
        is_sse = backend.content_type == "text/event-stream"
        headers = response_headers_for_client(backend.headers, is_event_stream=is_sse)
        headers["X-Request-Id"] = info.request_id
        if (location := headers.get("Location")) is not None:
            headers["Location"] = self.route.public_location(location)
        length = backend.content_length
        if not is_sse and length is not None and length <= _READ_ALL_LIMIT and request.method != "HEAD":
            try:
                if backend.content.is_eof():  # already all here: no timer needed
                    payload = await backend.read()
                else:
                    async with asyncio.timeout(self._backend.read_timeout):
                        payload = await backend.read()
            except (TimeoutError, aiohttp.ClientError) as exc:
                self._metrics.backend_errors.labels(self._name, "disconnect").inc()
                log.warning("backend_response_failed", backend=self._name, error=type(exc).__name__)
                return json_error(502, "bad_gateway", f"backend {self._name!r} failed mid-response")
            info.first_byte = time.perf_counter()
            return web.Response(status=backend.status, reason=backend.reason, body=payload, headers=headers)

        if origin is not None:
            cors.apply_to_response(headers, origin)  # before prepare(); handle() is too late
        response = web.StreamResponse(status=backend.status, reason=backend.reason, headers=headers)
        await response.prepare(request)
        info.first_byte = time.perf_counter()
        if is_sse:
            self._active_streams.inc()
        try:
            await self._pump(request, backend, response, is_sse, info)
        finally:
            if is_sse:
                self._active_streams.dec()
        return response

    async def _pump(
        self,
        request: web.Request,
        backend: aiohttp.ClientResponse,
        response: web.StreamResponse,
        is_sse: bool,
        info: RequestInfo,
    ) -> None:
        idle = self._backend.sse_read_timeout if is_sse else self._backend.read_timeout
        rewriter = (
            EndpointRewriter(lambda uri: relative_endpoint(uri, str(backend.url)))
            if is_sse and self.route.kind is RouteKind.SSE_STREAM
            else None
        )
        content = backend.content
        try:
            while True:
                if idle is None:  # SSE by default: no timer at all, one less allocation per event
                    chunk = await content.readany()
                else:
                    async with asyncio.timeout(idle):
                        chunk = await content.readany()
                if not chunk:
                    break
                if rewriter is not None:
                    chunk = rewriter.feed(chunk)
                    if rewriter.done:
                        rewriter = None
                    if not chunk:
                        continue
                await response.write(chunk)
        except (ConnectionResetError, aiohttp.ClientConnectionResetError):
            # The client went away while we wrote; the backend request is closed on return.
            self._metrics.client_disconnects.labels(self._name).inc()
            info.outcome = "client_disconnect"
            return
        except (TimeoutError, aiohttp.ClientPayloadError, aiohttp.ClientConnectionError) as exc:
            reason = "timeout" if isinstance(exc, TimeoutError) else "disconnect"
            self._metrics.backend_errors.labels(self._name, reason).inc()
            info.outcome = f"backend_{reason}"
            log.warning("backend_stream_ended", backend=self._name, reason=reason, request_id=info.request_id)
            if not is_sse:
                # A truncated body must not look complete: drop the client connection.
                request.protocol.force_close()
                if request.transport is not None:
                    request.transport.abort()
                return
        if rewriter is not None and (rest := rewriter.flush()):
            await response.write(rest)
        await response.write_eof()


async def expect_later(request: web.Request) -> None:
    """aiohttp's expect handler for backend routes. RFC 9110 §10.1.1: ``100 Continue`` invites
    the body; it is sent by the forwarder once the request is authenticated, so an
    unauthenticated client is never asked for its body. Other expectations get 417."""
    if request.headers.get("Expect", "").lower() != "100-continue":
        raise web.HTTPExpectationFailed(text="unknown expectation")


def _preflight(origin: str, requested_headers: str | None) -> web.Response:
    headers = cors.preflight_headers(origin, requested_headers)
    if headers is None:
        return json_error(403, "cors_header_not_allowed", "a requested header is not allowed cross-origin")
    return web.Response(status=204, headers=headers)


def _close(response: aiohttp.ClientResponse) -> None:
    """Return a fully read connection to the pool; drop one whose body was not read to the
    end, so an unfinished stream is closed at the backend and never reused."""
    if response.content.at_eof():
        response.release()
    else:
        response.close()
