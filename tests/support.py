# SPDX-License-Identifier: Apache-2.0
"""Shared helpers: free ports, real processes on loopback, and an in-process sidecar."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from sidecar.config import Settings, load_config_data
from sidecar.server import Sidecar


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(condition: Callable[[], Awaitable[bool]], what: str, within: float = 20.0) -> None:
    """Until ``condition()`` holds; TimeoutError naming ``what`` after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await condition():
        if loop.time() > deadline:
            raise TimeoutError(f"waited {within:.0f} s for {what}")
        await asyncio.sleep(0.05)


async def wait_for_port(port: int, within: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise TimeoutError(f"nothing listens on port {port}") from None
            await asyncio.sleep(0.05)
        else:
            writer.close()
            await writer.wait_closed()
            return


async def wait_until_ready(http: aiohttp.ClientSession, url: str, within: float = 10.0) -> None:
    """Poll ``url``/readyz until it answers 200."""
    async with asyncio.timeout(within):
        while True:
            async with http.get(f"{url}/readyz") as resp:
                if resp.status == 200:
                    return
            await asyncio.sleep(0.05)


@dataclass
class Process:
    """A child process on loopback, terminated at teardown."""

    popen: subprocess.Popen[bytes]
    port: int

    @classmethod
    async def start(cls, args: Sequence[str], port: int, **kwargs: Any) -> Process:
        """``python args...``, ready once ``port`` accepts connections."""
        return await cls.start_command([sys.executable, *args], port, **kwargs)

    @classmethod
    async def start_command(cls, command: Sequence[str], port: int, **kwargs: Any) -> Process:
        popen = subprocess.Popen(command, **kwargs)  # noqa: ASYNC220 - returns at once
        process = cls(popen, port)
        try:
            await wait_for_port(port)
        except BaseException:
            process.stop()
            raise
        return process

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``mcp-sidecar args...`` as a real process (``python -m sidecar``), its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings_for(
    backends: list[dict[str, Any]], *, incoming_auth: dict[str, Any] | None = None, **server: Any
) -> Settings:
    server_section: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "drain_timeout": "1s"}
    server_section.update(server)
    raw: dict[str, Any] = {"server": server_section, "backends": backends}
    if incoming_auth is not None:
        raw["incoming_auth"] = incoming_auth
    return load_config_data(raw)


class RunningSidecar:
    """An in-process sidecar on a free loopback port."""

    def __init__(self, settings: Settings, app: web.Application | None = None) -> None:
        self.sidecar = Sidecar(settings, app)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sidecar.ports[0]}"

    async def __aenter__(self) -> RunningSidecar:
        await self.sidecar.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.sidecar.shutdown()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def metric_samples(http: aiohttp.ClientSession, url: str) -> Samples:
    """Every sample of ``url``/metrics, by (name, sorted labels)."""
    async with http.get(f"{url}/metrics") as resp:
        text = await resp.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
