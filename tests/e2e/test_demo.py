# SPDX-License-Identifier: Apache-2.0
"""The quick start's demo command serves a working MCP endpoint."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sidecar.demo.run import demo_settings
from tests.authserver.flow import Browser, MemoryTokens, oauth_http_client, oauth_provider
from tests.support import Process, free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]


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


def _run_demo_script(root: Path) -> str:
    result = subprocess.run(
        [str(root / "scripts" / "demo"), "--port", "9000"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.stdout.strip() == "mcp-sidecar demo --port 9000"  # it always starts the demo
    return (root / "pip.log").read_text() if (root / "pip.log").exists() else ""


def test_demo_script_installs_only_when_pyproject_changes(tmp_path: Path) -> None:
    """./scripts/demo runs pip only for a new .venv or a changed pyproject.toml, not on every start.

    The script runs on a copy of the repository's script and pyproject.toml, with a .venv whose
    python and mcp-sidecar record their calls: a real `pip install` would rewrite the venv the
    test suite runs in."""
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in (
        ("python", 'echo "$*" >> "$(dirname "$0")/../../pip.log"'),
        ("mcp-sidecar", 'echo "mcp-sidecar $*"'),
    ):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    install = "-m pip install --quiet -e .[demo]\n"

    assert _run_demo_script(tmp_path).endswith(install)  # first start: installs
    log = _run_demo_script(tmp_path)
    assert log.count(install) == 1  # second start: nothing to install
    with (tmp_path / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# a new dependency\n")
    assert _run_demo_script(tmp_path).count(install) == 2  # pyproject.toml changed: installs again


def test_docs_describe_the_demos_audiences() -> None:
    """The demo section of docs/operations.md lists exactly the audiences the demo allows."""
    settings = demo_settings(8080, 3001)
    assert settings.auth_server is not None
    section = (ROOT / "docs" / "operations.md").read_text().split("### The demo", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"`(http://127\.0\.0\.1:<port>/[a-z]+)`", section))
    assert documented == {aud.replace(":8080", ":<port>") for aud in settings.auth_server.allowed_audiences}
