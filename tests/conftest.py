# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support import Process, free_port


@pytest.fixture
async def mcp_server() -> AsyncIterator[str]:
    """A real MCP server (official SDK, both transports) on loopback; yields its origin."""
    port = free_port()
    process = await Process.start(["-m", "sidecar.demo.server", "--port", str(port)], port)
    yield f"http://127.0.0.1:{port}"
    process.stop()
