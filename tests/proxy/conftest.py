# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.support import RunningSidecar, free_port, settings_for

StartSidecar = Callable[..., Awaitable[RunningSidecar]]


def echo_backend(echo_server: TestServer, **extra: Any) -> dict[str, Any]:
    """The echo server mounted at /b (everything below it is forwarded) and /mcp."""
    return {"name": "echo", "url": f"http://127.0.0.1:{echo_server.port}/", "path": "/b", **extra}


@pytest.fixture
async def start_sidecar() -> AsyncIterator[StartSidecar]:
    running: list[RunningSidecar] = []

    async def start(backends: list[dict[str, Any]], **server: Any) -> RunningSidecar:
        sidecar = RunningSidecar(settings_for(backends, **server))
        await sidecar.__aenter__()
        running.append(sidecar)
        return sidecar

    yield start
    for sidecar in running:
        await sidecar.__aexit__(None, None, None)


@pytest.fixture
async def sidecar(start_sidecar: StartSidecar, echo_server: TestServer) -> RunningSidecar:
    return await start_sidecar([echo_backend(echo_server)])


@pytest.fixture
def dead_port() -> int:
    return free_port()
