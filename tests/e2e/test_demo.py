# SPDX-License-Identifier: Apache-2.0
"""The quick start's demo command serves a working MCP endpoint, and the CLI basics."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import aiohttp
from mcp import Client

from sidecar import __version__
from tests.support import Process, free_port


async def test_demo_command_serves_a_real_mcp_server() -> None:
    port = free_port()
    demo = await Process.start(
        ["-m", "sidecar", "demo", "--port", str(port)], port, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        async with aiohttp.ClientSession() as http, asyncio.timeout(20):
            while True:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        break
                await asyncio.sleep(0.1)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            result = await client.call_tool("echo", {"text": "hello through the sidecar"})
        assert result.structured_content == {"result": "hello through the sidecar"}
        demo.popen.send_signal(signal.SIGINT)
        output, _ = await asyncio.to_thread(demo.popen.communicate, timeout=20)
        assert demo.popen.returncode == 0
        assert f"http://127.0.0.1:{port}/mcp".encode() in output
    finally:
        demo.stop()


def test_version_flag() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == f"mcp-sidecar {__version__}"
