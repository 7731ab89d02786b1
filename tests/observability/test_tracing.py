# SPDX-License-Identifier: Apache-2.0
"""OpenTelemetry traces, exported over OTLP/HTTP to a real receiver on loopback
(``tests/servers/otlp.py``), of requests proxied to real backends."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx2
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sidecar.app import create_app
from sidecar.authn.keys import StaticKeyProvider
from tests.authn.tokens import EC_KEY, sign, verification_key
from tests.servers.echo import headers_of
from tests.servers.otlp import RECEIVED, Received, build_otlp_app
from tests.support import RunningSidecar, settings_for

PUBLIC = "https://mcp.example.com"
ISSUER = "https://issuer.invalid"


@pytest.fixture
async def otlp(aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]) -> TestServer:
    """A real OTLP/HTTP traces receiver on loopback."""
    return await aiohttp_server(build_otlp_app())


def _received(otlp: TestServer) -> Received:
    return otlp.app[RECEIVED]


def _telemetry(otlp: TestServer, **tracing: Any) -> dict[str, Any]:
    return {
        "tracing": {
            "enabled": True,
            "endpoint": f"http://127.0.0.1:{otlp.port}/v1/traces",
            "service_name": "sidecar-under-test",
            **tracing,
        }
    }


def _traceparent(sampled: bool = True) -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def _echo_backend(echo: TestServer) -> dict[str, Any]:
    return {"name": "echo", "url": f"http://127.0.0.1:{echo.port}/", "path": "/b"}


async def test_mcp_sdk_call_joins_a_trusted_callers_trace(otlp: TestServer, mcp_server: str) -> None:
    """Behind a trusted proxy, an MCP call's spans continue the caller's trace: a server span per
    request (with the MCP method) whose parent is the caller's span, and a backend client span."""
    trace_id, parent_id, traceparent = _traceparent()
    settings = settings_for(
        [{"name": "demo", "url": f"{mcp_server}/mcp", "path": "/mcp"}],
        trusted_proxies=["127.0.0.0/8"],
        telemetry=_telemetry(otlp),
    )
    async with RunningSidecar(settings) as sidecar:
        async with httpx2.AsyncClient(headers={"traceparent": traceparent}) as http_client:
            transport = streamable_http_client(f"{sidecar.url}/mcp", http_client=http_client)
            async with Client(transport, mode="legacy") as client:
                result = await client.call_tool("add", {"a": 20, "b": 22})
        assert result.structured_content == {"result": 42}
    # The drain flushed the batch: every span is in before shutdown() returned.
    received = _received(otlp)
    servers = [span for span in received.spans if span.kind == "server"]
    assert servers
    assert {span.trace_id for span in received.spans} == {trace_id}
    assert {span.parent_span_id for span in servers} == {parent_id}
    call = next(span for span in servers if span.attributes.get("mcp.method.name") == "tools/call")
    assert call.name == "POST /mcp"
    assert call.attributes["http.request.method"] == "POST"
    assert call.attributes["http.route"] == "/mcp"
    # An SSE answer: the SDK may hang up as soon as it has the result (499, client_disconnect).
    assert call.attributes["http.response.status_code"] in (200, 499)
    assert call.attributes["sidecar.backend"] == "demo"
    assert call.resource["service.name"] == "sidecar-under-test"
    (backend_call,) = [span for span in received.spans if span.parent_span_id == call.span_id]
    assert backend_call.kind == "client"
    assert backend_call.attributes["http.response.status_code"] == 200
    assert backend_call.attributes["server.address"] == "127.0.0.1"


async def test_untrusted_callers_traceparent_starts_a_new_trace(
    otlp: TestServer, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """SECURITY: a client that is no trusted proxy cannot join a trace; the backend receives the
    sidecar's traceparent (of the new trace, the backend span as parent), not the client's."""
    trace_id, _parent_id, traceparent = _traceparent()
    settings = settings_for([_echo_backend(echo_server)], telemetry=_telemetry(otlp))
    async with (
        RunningSidecar(settings) as sidecar,
        http.post(
            f"{sidecar.url}/b/mcp",
            data=b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}',
            headers={"traceparent": traceparent, "tracestate": "vendor=client-chosen"},
        ) as resp,
    ):
        assert resp.status == 200
        echoed = headers_of(await resp.json())
    received = _received(otlp)
    server = received.one("POST /b")
    assert server.trace_id != trace_id
    assert server.parent_span_id == ""
    assert server.attributes["mcp.method.name"] == "tools/list"
    backend_call = received.one("POST")
    assert backend_call.parent_span_id == server.span_id
    version, sent_trace, sent_parent, flags = echoed["traceparent"].split("-")
    assert (version, sent_trace, sent_parent) == ("00", server.trace_id, backend_call.span_id)
    assert int(flags, 16) & 1  # sampled (0x02, W3C level 2's random trace id flag, may be set too)
    assert "tracestate" not in echoed


async def test_authentication_span_and_no_token_in_any_attribute(
    otlp: TestServer, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """An authenticated request has an ``authenticate`` child span; a refused one marks it with
    the reason; no token, Authorization value or cookie shows in any exported attribute."""
    settings = settings_for(
        [_echo_backend(echo_server)],
        incoming_auth={"type": "oidc", "oidc": {"issuer": ISSUER}},
        public_url=PUBLIC,
        telemetry=_telemetry(otlp),
    )
    app = create_app(settings, key_provider=StaticKeyProvider([verification_key(EC_KEY, "as-key-1")]))
    now = int(time.time())
    token = sign(
        {"iss": ISSUER, "aud": f"{PUBLIC}/b", "sub": "carol", "exp": now + 60, "iat": now},
        EC_KEY,
        "ES256",
        kid="as-key-1",
    )
    cookie = "session=cookie-value-" + secrets.token_hex(8)
    async with RunningSidecar(settings, app) as sidecar:
        for authorization, status in ((f"Bearer {token}", 200), ("Bearer not.a.token", 401)):
            async with http.post(
                f"{sidecar.url}/b/mcp?access_token_hint=x",
                data=b"{}",
                headers={"Authorization": authorization, "Cookie": cookie},
            ) as resp:
                assert resp.status == status
    received = _received(otlp)
    accepted, refused = sorted(
        received.named("POST /b"), key=lambda s: s.attributes["http.response.status_code"] != 200
    )
    auth_ok = next(s for s in received.named("authenticate") if s.parent_span_id == accepted.span_id)
    assert auth_ok.attributes["sidecar.auth.outcome"] == "ok"
    assert not auth_ok.error
    auth_refused = next(s for s in received.named("authenticate") if s.parent_span_id == refused.span_id)
    assert auth_refused.attributes["sidecar.auth.outcome"] == "malformed"
    assert auth_refused.error
    assert refused.attributes["http.response.status_code"] == 401
    assert not [s for s in received.spans if s.parent_span_id == refused.span_id and s.kind == "client"]
    exported = json.dumps([[s.attributes, s.resource] for s in received.spans])
    for secret in (token, "not.a.token", "Bearer", "cookie-value", "access_token_hint"):
        assert secret not in exported


async def test_sampling_ratio_zero_drops_new_traces_but_follows_a_sampled_parent(
    otlp: TestServer, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """Parent-based sampling: ``sampling_ratio: 0`` records no new trace, yet a trusted caller's
    sampled trace is recorded, and its unsampled one is not."""
    trace_id, _parent, sampled = _traceparent(sampled=True)
    unsampled_trace, _parent2, unsampled = _traceparent(sampled=False)
    settings = settings_for(
        [_echo_backend(echo_server)],
        trusted_proxies=["127.0.0.1/32"],
        telemetry=_telemetry(otlp, sampling_ratio=0),
    )
    async with RunningSidecar(settings) as sidecar:
        for headers in ({}, {"traceparent": sampled}, {"traceparent": unsampled}):
            async with http.post(f"{sidecar.url}/b/mcp", data=b"{}", headers=headers) as resp:
                assert resp.status == 200
                echoed = headers_of(await resp.json())
    _version, sent_trace, _span, flags = echoed["traceparent"].split("-")
    assert sent_trace == unsampled_trace  # the backend is in the caller's trace, not sampled either
    assert not int(flags, 16) & 1  # the unsampled decision travels on
    assert {span.trace_id for span in _received(otlp).spans} == {trace_id}


async def test_tracing_off_exports_nothing_and_creates_no_exporter(
    otlp: TestServer, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """With ``enabled: false`` (an endpoint configured all the same) the app has no tracer and the
    collector receives nothing; a client's traceparent passes through untouched."""
    _trace_id, _parent, traceparent = _traceparent()
    settings = settings_for([_echo_backend(echo_server)], telemetry=_telemetry(otlp, enabled=False))
    sidecar = RunningSidecar(settings)
    from sidecar.observability.tracing import TRACING  # noqa: PLC0415 - only once the app exists

    assert TRACING not in sidecar.sidecar.app
    async with (
        sidecar,
        http.post(f"{sidecar.url}/b/mcp", data=b"{}", headers={"traceparent": traceparent}) as resp,
    ):
        assert resp.status == 200
        echoed = headers_of(await resp.json())
    assert echoed["traceparent"] == traceparent
    assert _received(otlp).posts == 0


def test_tracing_off_never_imports_opentelemetry() -> None:
    """A sidecar with tracing off that proxies a request has loaded neither the tracing module nor
    OpenTelemetry's trace SDK or exporter (a fresh process: this one has them from other tests).
    redis-py 8 imports OpenTelemetry's metrics API by itself when it is installed: not ours."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        import aiohttp
        from tests.support import RunningSidecar, settings_for

        async def main():
            backend = {"name": "down", "url": "http://127.0.0.1:9/mcp", "path": "/mcp"}
            async with RunningSidecar(settings_for([backend])) as sidecar:
                async with aiohttp.ClientSession() as http:
                    async with http.post(f"{sidecar.url}/mcp", data=b"{}") as resp:
                        assert resp.status == 502, resp.status
            tracing = ("sidecar.observability.tracing", "opentelemetry.sdk.trace", "opentelemetry.exporter")
            print(sorted(name for name in sys.modules if name.startswith(tracing)))

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
