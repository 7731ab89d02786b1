# SPDX-License-Identifier: Apache-2.0
"""A real OTLP/HTTP traces receiver on loopback: ``POST /v1/traces`` with a protobuf
``ExportTraceServiceRequest`` (OTLP 1.x, binary encoding), decoded with ``opentelemetry-proto``
and kept as plain values for the tests to read."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

AttributeValue = str | int | float | bool | None
KINDS = {
    Span.SPAN_KIND_INTERNAL: "internal",
    Span.SPAN_KIND_SERVER: "server",
    Span.SPAN_KIND_CLIENT: "client",
}


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    kind: str
    trace_id: str  # lower-case hex, as in traceparent
    span_id: str
    parent_span_id: str  # "" for a root span
    attributes: dict[str, AttributeValue]
    resource: dict[str, AttributeValue]
    error: bool


@dataclass
class Received:
    spans: list[ReceivedSpan] = field(default_factory=list)
    posts: int = 0

    def named(self, name: str) -> list[ReceivedSpan]:
        return [span for span in self.spans if span.name == name]

    def one(self, name: str) -> ReceivedSpan:
        (span,) = self.named(name)
        return span


RECEIVED = web.AppKey("received", Received)


def _value(value: AnyValue) -> AttributeValue:
    kind = value.WhichOneof("value")
    if kind in ("string_value", "int_value", "double_value", "bool_value"):
        scalar: AttributeValue = getattr(value, kind)
        return scalar
    return None if kind is None else repr(value)


async def _traces(request: web.Request) -> web.Response:
    body = await request.read()
    if request.headers.get("Content-Encoding") == "gzip":
        body = gzip.decompress(body)
    export = ExportTraceServiceRequest.FromString(body)
    received = request.app[RECEIVED]
    received.posts += 1
    for resource_spans in export.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                received.spans.append(
                    ReceivedSpan(
                        name=span.name,
                        kind=KINDS.get(span.kind, str(span.kind)),
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        resource=resource,
                        error=span.status.code == span.status.STATUS_CODE_ERROR,
                    )
                )
    return web.Response(
        body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
    )


def build_otlp_app() -> web.Application:
    app = web.Application()
    app[RECEIVED] = Received()
    app.router.add_post("/v1/traces", _traces)
    return app
