# SPDX-License-Identifier: Apache-2.0
"""Events logged while a request is handled carry that request's id (``structlog.contextvars``)."""

from __future__ import annotations

import aiohttp

from tests.observability.conftest import RenderedLogs
from tests.support import RunningSidecar, free_port, settings_for


async def test_backend_unavailable_carries_the_request_id_of_its_request(
    http: aiohttp.ClientSession, json_logs: RenderedLogs
) -> None:
    """``backend_unavailable`` has the ``request_id`` of the access event and of ``X-Request-Id``,
    also for the second request on the same keep-alive connection."""
    settings = settings_for([{"name": "down", "url": f"http://127.0.0.1:{free_port()}/", "path": "/b"}])
    async with RunningSidecar(settings) as sidecar:
        ids = []
        for _ in range(2):
            async with http.post(f"{sidecar.url}/b/mcp", data=b"{}") as resp:
                assert resp.status == 502
                ids.append(resp.headers["X-Request-Id"])
    assert ids[0] != ids[1]
    assert [e["request_id"] for e in json_logs.named("backend_unavailable")] == ids
    assert [e["request_id"] for e in json_logs.named("request") if e["path"] == "/b/mcp"] == ids
