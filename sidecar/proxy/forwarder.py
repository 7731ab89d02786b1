# SPDX-License-Identifier: Apache-2.0
"""The streaming forwarder: one aiohttp handler per backend route.

Flow: Host and Origin checks (CORS preflights answered here) → path confinement → bearer-token
authentication, before any body byte is read → read or stream the body under the limit → the
policies and rate limits (``sidecar.authz``, ``sidecar.ratelimit``; the body read whole) →
backend headers (identity headers added) → send → relay the response (``relay.py``). A client
disconnect cancels this handler (``handler_cancellation``), which closes the backend request at
once — in the 2026-07-28 MCP revision that is how a client cancels a request. One audit event per
request when the audit trail is on.
"""

from __future__ import annotations

import asyncio

import structlog
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from sidecar.authn.authenticator import Authenticator, reason_of
from sidecar.authn.errors import AuthError
from sidecar.authn.validator import Identity
from sidecar.authz.gate import Admission, Gate, ListFilter
from sidecar.observability.access import REQUEST_INFO, RequestInfo, json_error
from sidecar.observability.audit import Auditor, event_type
from sidecar.observability.metrics import Metrics
from sidecar.observability.spans import NO_TRACING, RequestTracing
from sidecar.outgoing.errors import OutgoingFailure
from sidecar.outgoing.protocol import OutgoingAuth
from sidecar.outgoing.render import failure_response
from sidecar.proxy import cors, jsonrpc
from sidecar.proxy.forwarded import Forwarded, ProxyTrust
from sidecar.proxy.headers import request_headers_for_backend
from sidecar.proxy.legacy import LegacySessions
from sidecar.proxy.origin import BadHost, HostPolicy, OriginPolicy, request_authority
from sidecar.proxy.pool import BackendError, BackendPool, BackendResponse, Origin, UnsendableHead
from sidecar.proxy.relay import Relay
from sidecar.proxy.routing import Route, RouteKind
from sidecar.ratelimit.limiter import RateLimiter
from sidecar.request_body import BodyError, BodyTimeout, BodyTooLarge, BoundedBody

log = structlog.get_logger("sidecar.proxy")

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
        pool: BackendPool,
        metrics: Metrics,
        trust: ProxyTrust,
        origins: OriginPolicy,
        hosts: HostPolicy,
        authenticator: Authenticator | None,
        outgoing: OutgoingAuth,
        max_body: int,
        idle_timeout: float,
        gate: Gate | None = None,
        limiter: RateLimiter | None = None,
        audit: Auditor | None = None,
        sessions: LegacySessions | None = None,
        tracing: RequestTracing = NO_TRACING,
    ) -> None:
        self.route = route
        self._backend = route.backend
        self._name = route.backend.name
        self._pool = pool
        self._origin = Origin.of(route.target)
        self._metrics = metrics
        self._trust = trust
        self._origins = origins
        self._hosts = hosts
        self._auth = authenticator
        self._gate = gate
        self._limiter = limiter
        self._audit = audit
        self._sessions = sessions  # legacy HTTP+SSE streams, where denials are answered
        self._outgoing = outgoing
        self._keep_token = outgoing.uses_token  # SECURITY: otherwise the token goes no further
        # Client-sent copies of the identity and outgoing-auth headers the sidecar sets are dropped first.
        identity_names = authenticator.identity_header_names if authenticator is not None else frozenset()
        self._drop = identity_names | outgoing.header_names
        self._max_body = max_body
        self._idle_timeout = idle_timeout
        self._relay = Relay(route, metrics, sessions)
        self._tracing = tracing

    async def handle(self, request: web.Request) -> web.StreamResponse:
        info = request[REQUEST_INFO]
        info.backend = self._name
        headers = request.headers
        try:
            authority, bad_host = request_authority(headers.get("Host"), request.raw_path), None
        except BadHost as exc:
            authority, bad_host = None, exc
        # SECURITY: X-Forwarded-* are read only when the peer is a trusted proxy.
        forwarded = self._trust.from_headers(
            request.remote or "",
            own_proto=request.scheme,
            # The value the Host check reads; the socket address only when no Host was sent.
            own_host=authority if authority is not None else request.host,
            headers=headers,
        )
        info.client_ip = forwarded.client_ip  # logged for refused requests too
        if bad_host is not None:
            return json_error(400, "invalid_host", str(bad_host))
        if not self._hosts.allows(authority):
            return json_error(421, "misdirected_request", "this Host is not served here")
        origin = headers.get("Origin")
        if origin is not None:
            if len(headers.getall("Origin")) > 1:
                # SECURITY: only the first would be checked, and a later hop may read another one.
                # RFC 6454 §7.3: a user agent never sends more than one Origin.
                return json_error(
                    403, "origin_not_allowed", "a request may carry one Origin header, not several"
                )
            if not self._origins.allows(origin):
                message = f"Origin {origin!r} is not allowed to call this server"
                return json_error(403, "origin_not_allowed", message)
            if cors.is_preflight(request.method, headers):
                return _preflight(origin, headers.get("Access-Control-Request-Headers"))
        try:
            response = await self._checked(request, info, origin, forwarded)
        except asyncio.CancelledError:
            if self._audit is not None:  # the client left mid-stream: the operation is still audited
                _record(self._audit, self._name, request.method, info, 499)
            raise
        if origin is not None and not response.prepared:
            cors.apply_to_response(response.headers, origin)  # errors the sidecar made, too
        if self._audit is not None:
            _record(self._audit, self._name, request.method, info, response.status)
        return response

    async def _checked(
        self, request: web.Request, info: RequestInfo, origin: str | None, forwarded: Forwarded
    ) -> web.StreamResponse:
        target = self.route.target_for(request.rel_url.raw_path, request.rel_url.raw_query_string)
        if target is None:
            return json_error(400, "invalid_path", "the path is not a plain path below this route")
        identified = await self._identify(request, info)
        if isinstance(identified, web.StreamResponse):
            return identified
        identity, identity_headers = identified
        if request.headers.get("Expect", "").lower() == "100-continue" and request.version >= (1, 1):
            # Only now may the client send its body (see expect_later).
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            body = await self._body(request)
        except BodyError as error:
            return self._body_error(error)
        listing: ListFilter | None = None
        if identity is not None and (self._gate is not None or self._limiter is not None):
            gated = await self._authorize(request, info, identity, body)
            if isinstance(gated, web.Response):
                return gated
            body, listing = gated
        rpc = jsonrpc.summarize(body) if isinstance(body, bytes) and body else None
        if rpc is not None:
            info.mcp_method, info.mcp_name = rpc.method, rpc.target
            if self._audit is not None and self._audit.wants_data:
                info.arguments = rpc.arguments
            self._metrics.count_mcp(self._name, rpc.method)
        elif (header_method := request.headers.get("Mcp-Method")) is not None:
            info.mcp_method = header_method if header_method in jsonrpc.MCP_METHODS else "other"
        if self._limiter is not None and identity is not None and rpc is not None:
            limited = await self._rate_limit(self._limiter, identity, rpc, info)
            if limited is not None:
                return limited
        return await self._forward(
            request,
            info,
            target=target,
            body=body,
            rpc=rpc,
            origin=origin,
            extra_headers=_extra_headers(forwarded, info.request_id, identity_headers),
            listing=listing,
        )

    async def _identify(
        self, request: web.Request, info: RequestInfo
    ) -> tuple[Identity | None, dict[str, str]] | web.StreamResponse:
        """Who calls (before the body is read: an unauthenticated client gets nothing forwarded),
        and the headers that say so to the backend, outgoing-auth credentials included."""
        identity_headers: dict[str, str] = {}
        identity: Identity | None = None
        if self._auth is not None:
            try:
                with self._tracing.authentication():
                    identity = await self._auth.authenticate(request, self._name, keep_token=self._keep_token)
            except AuthError as error:
                info.outcome = f"auth_{reason_of(error)}"
                return self._auth.error_response(error, self._name, self.route.prefix)
            info.subject = identity.subject
            client_id = identity.claims.get("client_id", identity.claims.get("azp"))
            info.client_id = client_id if isinstance(client_id, str) else None
            identity_headers = self._auth.identity_headers(identity)
        try:
            identity_headers.update(await self._outgoing.apply(identity))
        except OutgoingFailure as failure:
            info.outcome = f"outgoing_{failure.reason}"
            return failure_response(failure, self._auth, self._name, self.route.prefix)
        return identity, identity_headers

    async def _rate_limit(
        self, limiter: RateLimiter, identity: Identity, rpc: jsonrpc.RpcSummary, info: RequestInfo
    ) -> web.Response | None:
        if rpc.method == "batch":
            # Each element would have to take its own tokens; batches are gone since MCP 2025-06-18.
            message = "JSON-RPC batches are not accepted while rate limits are on"
            return web.json_response(jsonrpc.error_body(None, -32600, message), status=400)
        if not rpc.is_request:
            return None
        tool = rpc.target if rpc.method == "tools/call" else None
        limited = await limiter.check(identity.subject, self._name, tool)
        if limited is None:
            return None
        info.outcome = f"rate_limited_{limited.bucket}"
        headers = {"Retry-After": str(limited.retry_after)}  # RFC 6585 §4
        return web.json_response(limited.body(rpc.id), status=429, headers=headers)

    async def _authorize(
        self, request: web.Request, info: RequestInfo, identity: Identity, body: bytes | BoundedBody | None
    ) -> tuple[bytes | BoundedBody | None, ListFilter | None] | web.Response:
        """The policies' say (docs/authorization.md): a POST (or any request with a body but a GET)
        is decided on its whole body (read whole for the rate limits too, so a chunked body
        cannot slip past); a GET stream gets its list responses filtered."""
        gate = self._gate
        if request.method == "GET" and gate is not None:
            return self._stream(gate, identity, body)
        if request.method != "POST" and body is None:
            return body, None  # DELETE, HEAD, OPTIONS: no message (any other method with a body is decided)
        try:
            whole = await body.read() if isinstance(body, BoundedBody) else body
        except BodyError as error:
            return self._body_error(error)
        if gate is None:
            return whole, None
        admission = gate.admit(identity.subject, identity.claims, self._name, whole, request.headers)
        if admission.refusal is not None:
            return self._refused(request, info, identity, admission, admission.refusal)
        return whole, admission.listing

    def _stream(
        self, gate: Gate, identity: Identity, body: bytes | BoundedBody | None
    ) -> tuple[bytes | BoundedBody | None, ListFilter | None] | web.Response:
        """A GET opens a stream whose list responses are filtered; it carries no message."""
        if body is not None and (not isinstance(body, bytes) or body):
            # SECURITY: a body on a GET would reach the backend without a decision.
            return json_error(400, "body_not_allowed", "a GET request may not carry a body here")
        return body, gate.stream_filter(identity.subject, identity.claims, self._name)

    def _refused(
        self,
        request: web.Request,
        info: RequestInfo,
        identity: Identity,
        admission: Admission,
        refusal: dict[str, object],
    ) -> web.Response:
        info.outcome = "authz_denied" if admission.status == 403 else "authz_refused"
        if (operation := admission.operation) is not None:
            info.mcp_method = operation.method if operation.method in jsonrpc.MCP_METHODS else "other"
            info.mcp_name = operation.check.name if operation.check is not None else None
        if (
            self.route.kind is RouteKind.SSE_MESSAGES
            and self._sessions is not None
            and self._sessions.deliver(request.raw_path, identity.subject, refusal)
        ):
            # The legacy transport answers on the GET stream; the POST itself is accepted.
            return web.Response(status=202, text="Accepted")
        return web.json_response(refusal, status=admission.status)

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
        listing: ListFilter | None = None,
    ) -> web.StreamResponse:
        headers = request_headers_for_backend(
            request.headers,
            forwarded=extra_headers,
            drop=self._drop,
            backend_origin=self.route.target_origin,
            keep_content_length=False,  # the pool frames the body
        )
        if listing is not None:
            headers.popall("Accept-Encoding", None)  # a list is filtered as JSON text
        try:
            with self._tracing.backend_call(self._name, request.method, target, headers) as call:
                backend_response = await self._send(request.method, target, headers, body)
                call.responded(backend_response.status)
        except UnsendableHead as refused:
            info.outcome = "unsendable_head"
            return json_error(400, "invalid_header", str(refused))
        except BackendFailure as failure:
            if isinstance(body, BoundedBody) and body.error is not None:
                return self._body_error(body.error)  # the body, not the backend, failed
            return self._failure_response(failure, rpc)
        try:
            return await self._relay.relay(request, backend_response, info, origin, listing)
        except asyncio.CancelledError:
            # handler_cancellation: the client went away (or the drain deadline passed).
            if request.transport is None or request.transport.is_closing():
                self._metrics.client_disconnects.labels(self._name).inc()
                info.outcome = "client_disconnect"
            raise
        finally:
            backend_response.release()  # back to the pool only when the exchange ended cleanly

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
    ) -> BackendResponse:
        try:
            return await self._pool.send(
                self._origin,
                method,
                target.raw_path_qs,
                headers.items(),
                body.__aiter__() if isinstance(body, BoundedBody) else body,
                # RFC 9112 §6.2: the length as a number, never the client's spelling of it.
                streamed_length=body.declared if isinstance(body, BoundedBody) else None,
                connect_timeout=self._backend.connect_timeout,
                read_timeout=self._backend.read_timeout,
            )
        except BackendError as exc:
            if isinstance(body, BoundedBody) and body.error is not None:
                raise BackendFailure(
                    502, "bad_gateway", "the request body failed"
                ) from None  # the client's fault
            self._metrics.backend_errors.labels(self._name, exc.reason).inc()
            if exc.reason == "timeout":
                raise BackendFailure(
                    504, "backend_timeout", f"backend {self._name!r} did not answer in time"
                ) from None
            log.warning("backend_unavailable", backend=self._name, error=exc.reason, detail=str(exc))
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


def _extra_headers(forwarded: Forwarded, request_id: str, identity_headers: dict[str, str]) -> dict[str, str]:
    """What the sidecar tells the backend about the request: where it came from, its id, who sent it."""
    headers = forwarded.headers()
    headers["X-Request-Id"] = request_id
    if identity_headers:
        headers.update(identity_headers)
    return headers


def _record(audit: Auditor, backend: str, http_method: str, info: RequestInfo, status: int) -> None:
    audit.record(
        kind=event_type(http_method, info.mcp_method, info.outcome),
        status=status,
        backend=backend,
        http_method=http_method,
        mcp_method=info.mcp_method,
        name=info.mcp_name,
        subject=info.subject,
        client_id=info.client_id,
        client_ip=info.client_ip,
        arguments=info.arguments,
    )


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
