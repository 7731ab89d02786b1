# SPDX-License-Identifier: Apache-2.0
"""The official MCP Python SDK client, through the sidecar, against a real MCP server."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client
from mcp.client.sse import sse_client

from tests.support import RunningSidecar, settings_for


def _backend(origin: str) -> dict[str, Any]:
    return {
        "name": "demo",
        "url": f"{origin}/mcp",
        "path": "/mcp",
        "sse_path": "/sse",
        "messages_path": "/messages/",
    }


async def _exercise(client: Client) -> list[tuple[float, float | None]]:
    tools = await client.list_tools()
    assert {"add", "countdown"} <= {tool.name for tool in tools.tools}
    result = await client.call_tool("add", {"a": 2, "b": 40})
    assert result.structured_content == {"result": 42}
    seen: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total))

    final = await client.call_tool("countdown", {"steps": 3, "interval": 0.05}, progress_callback=on_progress)
    assert final.structured_content == {"result": "liftoff"}
    return seen


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_streamable_http_both_eras_through_sidecar(mcp_server: str, mode: str) -> None:
    """Initialize (or discover), list tools, call a tool and receive progress over SSE, per era."""
    sidecar = RunningSidecar(settings_for([_backend(mcp_server)]))
    async with sidecar, Client(f"{sidecar.url}/mcp", mode=mode) as client:
        assert client.protocol_version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
        progress = await _exercise(client)
    assert progress == [(1, 3), (2, 3), (3, 3)]


async def test_legacy_http_sse_transport_through_sidecar(mcp_server: str) -> None:
    """The 2024-11-05 HTTP+SSE transport works through the sidecar's rewritten endpoint."""
    sidecar = RunningSidecar(settings_for([_backend(mcp_server)]))
    async with sidecar, Client(sse_client(f"{sidecar.url}/sse"), mode="legacy") as client:
        progress = await _exercise(client)
    assert progress == [(1, 3), (2, 3), (3, 3)]
