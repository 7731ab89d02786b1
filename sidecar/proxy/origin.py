# SPDX-License-Identifier: Apache-2.0
"""Which browser Origins may call the MCP endpoints.

MCP transports (2025-11-25, "Security Warning"): servers MUST validate the Origin header to stop
DNS-rebinding attacks; a present Origin that is not allowed gets 403. A request without Origin
is not from a browser page and passes.
"""

from __future__ import annotations

from collections.abc import Iterable

from sidecar.config.values import canonical_origin, origin_problem


class OriginPolicy:
    def __init__(self, allowed: Iterable[str]) -> None:
        self._allowed = frozenset(canonical_origin(o) for o in allowed)

    def allows(self, origin: str) -> bool:
        if origin_problem(origin) is not None:  # includes "null" from sandboxed frames
            return False
        return canonical_origin(origin) in self._allowed


def default_origins(public_url: str | None, port: int) -> list[str]:
    """The sidecar's own origin: ``public_url``, or its loopback names when that is not set."""
    if public_url is not None:
        return [public_url]
    return [f"http://localhost:{port}", f"http://127.0.0.1:{port}", f"http://[::1]:{port}"]
