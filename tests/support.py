# SPDX-License-Identifier: Apache-2.0
"""Shared helpers: free ports, real processes on loopback, and an in-process sidecar."""

from __future__ import annotations

import asyncio
import inspect
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


async def wait_for(
    condition: Callable[[], bool | Awaitable[bool]], within: float = 10.0, *, what: str = "the condition"
) -> None:
    """Check ``condition`` (sync or async) until it holds; ``TimeoutError`` naming ``what`` if it
    does not within ``within`` seconds. The only place tests wait: on a condition, never a sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        outcome = condition()
        if await outcome if inspect.isawaitable(outcome) else outcome:
            return
        if loop.time() > deadline:
            raise TimeoutError(f"{what} did not hold within {within} s")
        await asyncio.sleep(0.02)  # the polling interval, not a wait for something to happen


async def _accepts(port: int) -> bool:
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    await writer.wait_closed()
    return True


async def readyz(http: aiohttp.ClientSession, url: str) -> tuple[int, list[str]]:
    """The status of ``url``/readyz and its reasons (empty when ready)."""
    async with http.get(f"{url}/readyz") as resp:
        return resp.status, list((await resp.json()).get("reasons", []))


async def wait_until_ready(http: aiohttp.ClientSession, url: str, within: float = 10.0) -> None:
    """Poll ``url``/readyz until it answers 200."""

    async def ready() -> bool:
        return (await readyz(http, url))[0] == 200

    await wait_for(ready, within, what=f"{url}/readyz answering 200")


@dataclass
class Process:
    """A child process on loopback, terminated at teardown."""

    popen: subprocess.Popen[bytes]
    port: int

    @classmethod
    async def start(cls, args: Sequence[str], port: int, *, within: float = 20.0, **kwargs: Any) -> Process:
        """``python args...``, ready once ``port`` accepts connections."""
        return await cls.start_command([sys.executable, *args], port, within=within, **kwargs)

    @classmethod
    async def start_command(
        cls, command: Sequence[str], port: int, *, within: float = 20.0, **kwargs: Any
    ) -> Process:
        """``command``, ready once ``port`` accepts connections; fails at once if it exits first."""
        popen = subprocess.Popen(command, **kwargs)  # noqa: ASYNC220 - returns at once
        process = cls(popen, port)

        async def listening_or_exited() -> bool:
            return popen.poll() is not None or await _accepts(port)

        try:
            await wait_for(listening_or_exited, within, what=f"the process listening on port {port}")
            if popen.poll() is not None:
                raise RuntimeError(
                    f"{' '.join(command)} exited with code {popen.returncode} before listening"
                )
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
    backends: list[dict[str, Any]],
    *,
    incoming_auth: dict[str, Any] | None = None,
    telemetry: dict[str, Any] | None = None,
    **server: Any,
) -> Settings:
    server_section: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "drain_timeout": "1s"}
    server_section.update(server)
    raw: dict[str, Any] = {"server": server_section, "backends": backends}
    if incoming_auth is not None:
        raw["incoming_auth"] = incoming_auth
    if telemetry is not None:
        raw["telemetry"] = telemetry
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
