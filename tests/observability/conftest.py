# SPDX-License-Identifier: Apache-2.0
"""Log output rendered by the sidecar's own processor chain, captured for the test."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog

from sidecar.observability.logging import log_processors


class RenderedLogs:
    """What the sidecar wrote through its real processor chain, one line per event."""

    def __init__(self, out: io.StringIO) -> None:
        self._out = out

    @property
    def text(self) -> str:
        return self._out.getvalue()

    def events(self) -> list[dict[str, Any]]:
        """Every JSON line, parsed (for the json format)."""
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["event"] == event]


@contextmanager
def _rendered(console: bool) -> Iterator[RenderedLogs]:
    saved = structlog.get_config()
    out = io.StringIO()
    structlog.configure(
        processors=log_processors(console),
        logger_factory=structlog.WriteLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    try:
        yield RenderedLogs(out)
    finally:
        structlog.configure(**saved)


@pytest.fixture
def json_logs() -> Iterator[RenderedLogs]:
    """The sidecar's events as JSON lines, as ``server.log_format: json`` writes them."""
    with _rendered(console=False) as logs:
        yield logs


@pytest.fixture
def console_logs() -> Iterator[RenderedLogs]:
    """The sidecar's events as ``server.log_format: console`` writes them."""
    with _rendered(console=True) as logs:
        yield logs
