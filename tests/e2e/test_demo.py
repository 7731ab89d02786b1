# SPDX-License-Identifier: Apache-2.0
"""The quick start's demo command serves a working MCP endpoint."""

from __future__ import annotations

import asyncio
import signal
import subprocess

import aiohttp
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.authserver.flow import Browser, MemoryTokens, oauth_http_client, oauth_provider
from tests.support import Process, free_port, wait_until_ready


async def _start_demo(*extra: str) -> tuple[Process, int]:
    port = free_port()
    demo = await Process.start(
        ["-m", "sidecar", "demo", "--port", str(port), *extra],
        port,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    async with aiohttp.ClientSession() as http:
        await wait_until_ready(http, f"http://127.0.0.1:{port}", within=20)
    return demo, port


async def _stop_demo(demo: Process, port: int) -> None:
    demo.popen.send_signal(signal.SIGINT)
    output, _ = await asyncio.to_thread(demo.popen.communicate, timeout=20)
    assert demo.popen.returncode == 0
    assert f"http://127.0.0.1:{port}/mcp".encode() in output


async def test_demo_runs_mode_b_with_a_login() -> None:
    """The quick start: an MCP client logs in as demo/demo and calls a tool."""
    demo, port = await _start_demo()
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser_http:
            browser = Browser(browser_http, username="demo", password="demo")
            provider = oauth_provider(url, browser, MemoryTokens())
            async with (
                oauth_http_client(provider) as http_client,
                Client(streamable_http_client(url, http_client=http_client), mode="legacy") as client,
            ):
                result = await client.call_tool("echo", {"text": "hello through the sidecar"})
        assert result.structured_content == {"result": "hello through the sidecar"}
        await _stop_demo(demo, port)
    finally:
        demo.stop()


async def test_demo_anonymous_mode_proxies_without_login() -> None:
    demo, port = await _start_demo("--anonymous")
    try:
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            result = await client.call_tool("add", {"a": 1, "b": 1})
        assert result.structured_content == {"result": 2}
        await _stop_demo(demo, port)
    finally:
        demo.stop()
