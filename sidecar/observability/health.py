# SPDX-License-Identifier: Apache-2.0
"""Liveness and readiness.

``/health`` answers 200 while the event loop runs. ``/readyz`` answers 200 only when every backend
answered its last probe and the process is not draining; otherwise 503 with the list of reasons.
Reasons name components, never error texts from elsewhere (they could carry internal detail).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import structlog
from yarl import URL

from sidecar.config import BackendSettings
from sidecar.observability.metrics import Metrics

log = structlog.get_logger("sidecar.health")


@dataclass(slots=True)
class _BackendState:
    up: bool = False
    probed: bool = False


class Readiness:
    """The state ``/readyz`` reports; written by probes and the shutdown sequence."""

    def __init__(self, backends: tuple[BackendSettings, ...], metrics: Metrics) -> None:
        self.draining = False
        self._metrics = metrics
        self._checks: list[Callable[[], str | None]] = []
        self._backends = {b.name: _BackendState() for b in backends}
        for name in self._backends:
            metrics.backend_up.labels(name).set(0)

    def set_backend(self, name: str, up: bool) -> None:
        state = self._backends[name]
        if state.up != up or not state.probed:
            log.info("backend_up" if up else "backend_down", backend=name)
        state.up, state.probed = up, True
        self._metrics.backend_up.labels(name).set(1 if up else 0)

    def add_check(self, check: Callable[[], str | None]) -> None:
        """A further condition: ``check()`` returns the reason it is not ready, or None."""
        self._checks.append(check)

    def start_draining(self) -> None:
        self.draining = True
        self._metrics.draining.set(1)

    def reasons(self) -> list[str]:
        reasons = ["draining"] if self.draining else []
        for name, state in self._backends.items():
            if not state.probed:
                reasons.append(f"backend {name}: not probed yet")
            elif not state.up:
                reasons.append(f"backend {name}: probe failed")
        reasons.extend(reason for check in self._checks if (reason := check()) is not None)
        return reasons


async def probe_once(backend: BackendSettings, session: aiohttp.ClientSession) -> bool:
    """TCP connect to the backend, or GET its health path when one is configured."""
    url = URL(backend.url)
    try:
        async with asyncio.timeout(backend.health.timeout):
            if backend.health.path is None:
                _reader, writer = await asyncio.open_connection(url.host, url.port)
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
                return True
            async with session.get(url.with_path(backend.health.path), allow_redirects=False) as resp:
                return resp.status < 500
    except (OSError, TimeoutError, aiohttp.ClientError):
        return False


async def probe_forever(
    backend: BackendSettings, session: aiohttp.ClientSession, readiness: Readiness
) -> None:
    while True:
        readiness.set_backend(backend.name, await probe_once(backend, session))
        await asyncio.sleep(backend.health.interval)
