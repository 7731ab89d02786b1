# SPDX-License-Identifier: Apache-2.0
"""/health, /readyz and /metrics on a running sidecar."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.support import (
    RunningSidecar,
    free_port,
    metric_samples,
    readyz,
    settings_for,
    wait_for,
    wait_until_ready,
)


async def test_readyz_waits_for_every_backend(echo_server: TestServer, http: aiohttp.ClientSession) -> None:
    """503 with reasons while a backend does not answer its probe; 200 once all do."""
    down_port = free_port()
    settings = settings_for(
        [
            {
                "name": "up",
                "url": f"http://127.0.0.1:{echo_server.port}/",
                "path": "/up",
                "health": {"path": "/gzip", "interval": "100ms"},
            },
            {
                "name": "late",
                "url": f"http://127.0.0.1:{down_port}/",
                "path": "/late",
                "health": {"interval": "100ms"},
            },
        ]
    )
    async with RunningSidecar(settings) as sidecar:

        async def only_late_fails() -> bool:
            return await readyz(http, sidecar.url) == (503, ["backend late: probe failed"])

        await wait_for(only_late_fails, what="both backends probed, only 'late' failing")
        async with http.get(f"{sidecar.url}/readyz") as resp:
            assert resp.status == 503
            assert resp.headers["Cache-Control"] == "no-store"
        late = web.Application()  # any listener satisfies the default TCP probe
        async with TestServer(late, host="127.0.0.1", port=down_port):
            await wait_until_ready(http, sidecar.url)
        async with http.get(f"{sidecar.url}/health") as resp:
            assert resp.status == 200


async def test_metrics_cover_requests_streams_backends_and_mcp_methods(
    echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    settings = settings_for([{"name": "echo", "url": f"http://127.0.0.1:{echo_server.port}/", "path": "/b"}])
    async with RunningSidecar(settings) as sidecar:
        await wait_until_ready(http, sidecar.url)
        async with http.post(
            f"{sidecar.url}/b/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        ):
            pass
        async with http.post(
            f"{sidecar.url}/b/mcp", json={"jsonrpc": "2.0", "id": 2, "method": "evil/" + "x" * 99}
        ):
            pass
        async with http.get(f"{sidecar.url}/b/hold-sse") as stream:
            await stream.content.readuntil(b"\n\n")
            async with http.get(f"{sidecar.url}/metrics") as resp:
                assert resp.headers["Content-Type"].startswith("text/plain")
            during = await metric_samples(http, sidecar.url)

        # The stream's handler ends when the sidecar notices the disconnect; wait for it.
        async def stream_closed() -> bool:
            samples = await metric_samples(http, sidecar.url)
            return samples[("mcp_sidecar_active_streams", (("backend", "echo"),))] == 0

        await wait_for(stream_closed, what="the active stream gauge back at 0")
        after = await metric_samples(http, sidecar.url)
    assert during[("mcp_sidecar_active_streams", (("backend", "echo"),))] == 1
    assert after[("mcp_sidecar_backend_up", (("backend", "echo"),))] == 1
    assert after[("mcp_sidecar_mcp_messages_total", (("backend", "echo"), ("mcp_method", "tools/list")))] == 1
    assert after[("mcp_sidecar_mcp_messages_total", (("backend", "echo"), ("mcp_method", "other")))] == 1
    key = ("mcp_sidecar_requests_total", (("backend", "echo"), ("method", "POST"), ("status", "200")))
    assert after[key] == 2
    assert after[("mcp_sidecar_client_disconnects_total", (("backend", "echo"),))] == 1
    assert after[("mcp_sidecar_request_duration_seconds_count", (("backend", "echo"),))] == 3
    assert ("mcp_sidecar_build_info", (("version", "0.1.0"),)) in after


async def test_metrics_on_separate_port(echo_server: TestServer, http: aiohttp.ClientSession) -> None:
    metrics_port = free_port()
    settings = settings_for(
        [{"name": "echo", "url": f"http://127.0.0.1:{echo_server.port}/", "path": "/b"}],
        metrics_port=metrics_port,
    )
    async with RunningSidecar(settings) as sidecar:
        async with http.get(f"{sidecar.url}/metrics") as resp:
            assert resp.status == 404
        async with http.get(f"http://127.0.0.1:{metrics_port}/metrics") as resp:
            assert resp.status == 200
            assert "mcp_sidecar_requests_total" in await resp.text()
