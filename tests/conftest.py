# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import aiohttp
import hypothesis
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.redis_servers import RedisClusterServers, RedisSentinelServers, RedisServer
from tests.servers.echo import STATE, EchoState, build_echo_app
from tests.support import Process, free_port

# The fuzz tests check behaviour, never speed: no per-example deadline and no "too slow" health
# check, which fail at random on a busy shared machine.
hypothesis.settings.register_profile(
    "ci", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("ci")


@pytest.fixture(scope="session")
def mcp_server() -> Iterator[str]:
    """A real MCP server (official SDK, both transports) on loopback, shared by the whole run
    (it keeps no state between tests); yields its origin."""
    port = free_port()
    # A sync fixture (one server for the whole session): its start-up wait runs on a loop of its own.
    process = asyncio.run(Process.start(["-m", "sidecar.demo.server", "--port", str(port)], port, within=30))
    yield f"http://127.0.0.1:{port}"
    process.stop()


def _catalog(*extra: str) -> Iterator[str]:
    port = free_port()
    args = ["-m", "tests.servers.catalog", "--port", str(port), *extra]
    process = asyncio.run(Process.start(args, port, within=30))
    yield f"http://127.0.0.1:{port}"
    process.stop()


@pytest.fixture(scope="session")
def catalog_sse() -> Iterator[str]:
    """A real MCP server with several tools, prompts and resources (tests/servers/catalog.py),
    answering POSTs with SSE streams, with the legacy HTTP+SSE transport too; its origin."""
    yield from _catalog()


@pytest.fixture(scope="session")
def catalog_json() -> Iterator[str]:
    """The same server answering POSTs with JSON bodies."""
    yield from _catalog("--json")


@pytest.fixture
async def echo_server(aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]) -> TestServer:
    """A plain HTTP backend that echoes what reached it (tests/servers/echo.py)."""
    return await aiohttp_server(build_echo_app())


@pytest.fixture
def echo_state(echo_server: TestServer) -> EchoState:
    """What the echo server saw: stream starts and ends, slow requests; and the gate it waits on."""
    return echo_server.app[STATE]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that leaves bodies as they came (no decompression)."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real standalone redis-server on loopback, shared by the run (tests use key prefixes of
    their own)."""
    server = RedisServer.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    """A real Redis Cluster of three masters on loopback, shared by the run."""
    cluster = RedisClusterServers.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[RedisSentinelServers]:
    """A real master, replica and three sentinels on loopback, shared by the run: tests that
    fail the master over start a topology of their own."""
    servers = RedisSentinelServers.start()
    yield servers
    servers.stop()
