# SPDX-License-Identifier: Apache-2.0
"""OpenTelemetry traces (``telemetry.tracing``), imported only when tracing is enabled.

Per proxied request: a server span ``{method} {route}`` started by :func:`tracing_middleware`,
with two children from the forwarder's hooks (``spans.RequestTracing``): ``authenticate``
(internal) and ``{method}`` to the backend (client), which carries the span's ``traceparent``.

Propagation (W3C Trace Context): an incoming ``traceparent``/``tracestate`` is believed only from
a peer in ``server.trusted_proxies``; from anyone else the request starts a new trace, and the
backend sees the sidecar's ``traceparent`` in place of the client's. Sampling is parent-based:
a believed parent's sampled flag is followed, new traces are kept at ``sampling_ratio``.

SECURITY: attributes are bounded labels and addresses only — never a header value, a query
string, a token, a code or a cookie; exceptions are not recorded (their messages are not ours).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict
from opentelemetry import context as otel_context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from yarl import URL

from sidecar import __version__
from sidecar.authn.authenticator import reason_of
from sidecar.authn.errors import AuthError
from sidecar.config import Settings
from sidecar.observability.access import REQUEST_INFO
from sidecar.proxy.forwarded import ProxyTrust
from sidecar.proxy.forwarder import BackendFailure, Forwarder

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_HEADERS = ("traceparent", "tracestate")


def _replace_trace_headers(headers: CIMultiDict[str]) -> None:
    for name in _TRACE_HEADERS:
        headers.popall(name, None)  # the client's, when it sent any
    _PROPAGATOR.inject(headers)


class _Unrecorded:
    __slots__ = ()

    def responded(self, status: int) -> None:
        return None


_UNRECORDED = _Unrecorded()


class _BackendCall:
    __slots__ = ("_span",)

    def __init__(self, span: Span) -> None:
        self._span = span

    def responded(self, status: int) -> None:
        self._span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self._span.set_status(Status(StatusCode.ERROR))


class Tracing:
    """The tracer of one app, its export pipeline, and the forwarder's hooks."""

    def __init__(self, settings: Settings) -> None:
        config = settings.telemetry.tracing
        assert config.endpoint is not None  # noqa: S101 - the config rules require it when enabled
        resource = Resource.create({"service.name": config.service_name, "service.version": __version__})
        self.provider = TracerProvider(
            resource=resource, sampler=ParentBased(TraceIdRatioBased(config.sampling_ratio))
        )
        self.provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=config.endpoint, timeout=5))
        )
        self.tracer: Tracer = self.provider.get_tracer("sidecar")
        self._trust = ProxyTrust(settings.server.trusted_proxies)

    def incoming_context(self, request: web.Request) -> otel_context.Context:
        """The caller's trace when a trusted proxy sent it; otherwise a fresh, empty context."""
        if not self._trust.trusts(request.remote or ""):
            # SECURITY: an untrusted client could otherwise join (or force sampling of) any trace.
            return otel_context.Context()
        carrier = {name: value for name in _TRACE_HEADERS if (value := request.headers.get(name))}
        return _PROPAGATOR.extract(carrier, context=otel_context.Context())

    @contextmanager
    def authentication(self) -> Iterator[object]:
        if not get_current_span().is_recording():
            yield None  # an unsampled request: a child span would be dropped anyway
            return
        with self.tracer.start_as_current_span(
            "authenticate", record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                yield span
            except AuthError as error:
                span.set_attribute("sidecar.auth.outcome", reason_of(error))
                span.set_status(Status(StatusCode.ERROR))
                raise
            span.set_attribute("sidecar.auth.outcome", "ok")

    @contextmanager
    def backend_call(
        self, backend: str, method: str, target: URL, headers: CIMultiDict[str]
    ) -> Iterator[_BackendCall | _Unrecorded]:
        if not get_current_span().is_recording():
            # Unsampled: no span to make, but the backend still learns the trace and the decision.
            _replace_trace_headers(headers)
            yield _UNRECORDED
            return
        attributes: dict[str, str | int] = {
            "http.request.method": method,
            "server.address": target.host or "",
            "sidecar.backend": backend,
        }
        if target.port is not None:
            attributes["server.port"] = target.port
        with self.tracer.start_as_current_span(
            method,
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            _replace_trace_headers(headers)
            try:
                yield _BackendCall(span)
            except BackendFailure as failure:
                span.set_attribute("error.type", failure.reason)
                span.set_status(Status(StatusCode.ERROR))
                raise

    async def lifecycle(self, _app: web.Application) -> AsyncIterator[None]:
        """A ``cleanup_ctx``: on drain, the spans still queued are sent before the app closes."""
        yield
        # The SDK's shutdown flushes with blocking HTTP: off the event loop.
        await asyncio.to_thread(self.provider.shutdown)


TRACING = web.AppKey("tracing", Tracing)


def tracing_middleware(tracing: Tracing) -> Middleware:
    """A server span around each request routed to a backend (other paths are not traced)."""
    tracer = tracing.tracer

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        forwarder = getattr(request.match_info.handler, "__self__", None)
        if not isinstance(forwarder, Forwarder):
            return await handler(request)
        route = forwarder.route.prefix or "/"
        info = request[REQUEST_INFO]
        with tracer.start_as_current_span(
            f"{request.method} {route}",
            context=tracing.incoming_context(request),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": request.method,
                "http.route": route,
                "sidecar.backend": forwarder.route.backend.name,
                "sidecar.request_id": info.request_id,
            },
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            except asyncio.CancelledError:
                status = 499
                raise
            finally:
                span.set_attribute("http.response.status_code", status)
                if info.client_ip is not None:
                    span.set_attribute("client.address", info.client_ip)
                if info.mcp_method is not None:
                    span.set_attribute("mcp.method.name", info.mcp_method)
                if info.outcome is not None:
                    span.set_attribute("sidecar.outcome", info.outcome)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))

    return middleware
