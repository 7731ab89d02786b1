# SPDX-License-Identifier: Apache-2.0
"""An unexpected exception in a handler: a JSON 500 naming the request id, the traceback in the
log only, and the error counted."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sidecar.app import create_app
from tests.observability.conftest import RenderedLogs
from tests.support import RunningSidecar, metric_samples, settings_for

SECRET_DETAIL = "internal detail: /var/lib/sidecar/state.db"


async def _raise(_request: web.Request) -> web.StreamResponse:
    raise RuntimeError(SECRET_DETAIL)


async def _raise_mid_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    await response.write(b"partial")
    raise RuntimeError(SECRET_DETAIL)


async def _write_after_the_connection_closed(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse()
    await response.prepare(request)
    assert request.transport is not None
    # What a client that leaves between two writes looks like to the handler, without the race.
    request.transport.close()
    await response.write(b"late")
    return response


def _sidecar_with_failing_routes(echo_server: TestServer) -> RunningSidecar:
    """The real app and middleware stack, plus routes whose handlers raise (the app is still
    open to routes until it starts)."""
    settings = settings_for([{"name": "echo", "url": f"http://127.0.0.1:{echo_server.port}/", "path": "/b"}])
    app = create_app(settings)
    app.router.add_get("/test/raise", _raise)
    app.router.add_get("/test/raise-mid-stream", _raise_mid_stream)
    app.router.add_get("/test/closed", _write_after_the_connection_closed)
    return RunningSidecar(settings, app)


async def _raise_once(
    echo_server: TestServer, http: aiohttp.ClientSession
) -> tuple[aiohttp.ClientResponse, str]:
    """GET the raising route on a fresh sidecar: the response and its body as text."""
    async with (
        _sidecar_with_failing_routes(echo_server) as sidecar,
        http.get(f"{sidecar.url}/test/raise") as resp,
    ):
        return resp, await resp.text()


async def test_unexpected_exception_is_a_json_500_with_the_request_id_and_no_detail(
    echo_server: TestServer, http: aiohttp.ClientSession, json_logs: RenderedLogs
) -> None:
    """A handler's exception is answered 500 in JSON naming the request id; its text stays out."""
    resp, raw = await _raise_once(echo_server, http)
    assert resp.status == 500
    assert resp.content_type == "application/json"
    request_id = resp.headers["X-Request-Id"]
    body = json.loads(raw)
    assert body["error"] == "internal_error"
    assert request_id in body["error_description"]
    assert "RuntimeError" not in raw
    assert SECRET_DETAIL not in raw
    assert "Traceback" not in raw
    (access,) = json_logs.named("request")
    assert (access["request_id"], access["status"], access["outcome"]) == (request_id, 500, "internal_error")


async def test_unexpected_exception_is_logged_with_its_traceback_as_text(
    echo_server: TestServer, http: aiohttp.ClientSession, json_logs: RenderedLogs
) -> None:
    """The ``internal_error`` event carries the request id and the traceback rendered as text."""
    resp, _raw = await _raise_once(echo_server, http)
    request_id = resp.headers["X-Request-Id"]
    (event,) = json_logs.named("internal_error")
    assert event["level"] == "error"
    assert event["request_id"] == request_id
    assert event["path"] == "/test/raise"
    assert event["exception"].startswith("Traceback (most recent call last):")
    assert f"RuntimeError: {SECRET_DETAIL}" in event["exception"]
    assert "in _raise" in event["exception"]
    assert "<traceback object" not in json_logs.text


async def test_unexpected_exception_is_counted_as_a_500_and_an_internal_error(
    echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """Requests by status count the 500; ``mcp_sidecar_internal_errors_total`` counts the failure."""
    async with _sidecar_with_failing_routes(echo_server) as sidecar:
        for _ in range(2):
            async with http.get(f"{sidecar.url}/test/raise") as resp:
                assert resp.status == 500
        samples = await metric_samples(http, sidecar.url)
    assert (
        samples[("mcp_sidecar_requests_total", (("backend", "-"), ("method", "GET"), ("status", "500")))] == 2
    )
    assert samples[("mcp_sidecar_internal_errors_total", (("backend", "-"),))] == 2


async def test_exception_after_the_response_started_drops_the_connection(
    echo_server: TestServer, http: aiohttp.ClientSession, json_logs: RenderedLogs
) -> None:
    """Once the head is out no second response is written: the client sees a truncated body."""
    async with _sidecar_with_failing_routes(echo_server) as sidecar:
        async with http.get(f"{sidecar.url}/test/raise-mid-stream") as resp:
            assert resp.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
        async with http.get(f"{sidecar.url}/health") as resp:  # the sidecar is still serving
            assert resp.status == 200
        samples = await metric_samples(http, sidecar.url)
    (event,) = json_logs.named("internal_error")
    assert f"RuntimeError: {SECRET_DETAIL}" in event["exception"]
    assert json_logs.named("request")[0]["status"] == 500
    assert samples[("mcp_sidecar_internal_errors_total", (("backend", "-"),))] == 1


async def test_write_to_a_closed_connection_is_a_client_disconnect_not_an_internal_error(
    echo_server: TestServer, http: aiohttp.ClientSession, json_logs: RenderedLogs
) -> None:
    """A ConnectionResetError once the connection is closing is logged as 499 client_disconnect."""
    async with _sidecar_with_failing_routes(echo_server) as sidecar:
        with pytest.raises(aiohttp.ClientError):
            async with http.get(f"{sidecar.url}/test/closed") as resp:
                await resp.read()
        samples = await metric_samples(http, sidecar.url)
    assert json_logs.named("internal_error") == []
    (access,) = [e for e in json_logs.named("request") if e["path"] == "/test/closed"]
    assert (access["status"], access["outcome"]) == (499, "client_disconnect")
    assert ("mcp_sidecar_internal_errors_total", (("backend", "-"),)) not in samples
