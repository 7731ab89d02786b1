# SPDX-License-Identifier: Apache-2.0
"""The examples in examples/ work as shown in the README, against a real sidecar."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import urlsplit

from sidecar.demo.run import demo_settings
from tests.support import RunningSidecar, free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def test_example_client_logs_in_to_the_demo_and_calls_a_tool(mcp_server: str) -> None:
    """examples/mcp_client.py registers, signs in as demo/demo and calls a tool through a sidecar
    with the demo's configuration (Mode B), run as a user runs it: a script with the URL."""
    backend_port = urlsplit(mcp_server).port
    assert backend_port is not None
    async with RunningSidecar(demo_settings(free_port(), backend_port)) as sidecar:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLES / "mcp_client.py"),
            f"{sidecar.url}/mcp",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(45):
            stdout, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().splitlines() == ["tools: add, countdown, echo, sleep", "add(2, 40) = 42"]
