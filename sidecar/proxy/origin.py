# SPDX-License-Identifier: Apache-2.0
"""Which browser Origins and Host names may call the MCP endpoints.

MCP transports (2025-11-25, "Security Warning"): servers MUST validate the Origin header to stop
DNS-rebinding attacks; a present Origin that is not allowed gets 403. A request without Origin
is not from a browser page and passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from sidecar.config.values import canonical_origin, is_loopback_host, origin_problem


class OriginPolicy:
    """``allowed`` origins, plus the sidecar's own: ``public_url``, or when that is not set,
    http loopback origins on any port (as the MCP SDK's own default for local servers)."""

    def __init__(self, allowed: Iterable[str], public_url: str | None) -> None:
        own = [public_url] if public_url is not None else []
        self._allowed = frozenset(canonical_origin(o) for o in [*own, *allowed])
        self._loopback_any_port = public_url is None

    def allows(self, origin: str) -> bool:
        if origin_problem(origin) is not None:  # includes "null" from sandboxed frames
            return False
        canonical = canonical_origin(origin)
        if canonical in self._allowed:
            return True
        parts = urlsplit(canonical)
        return self._loopback_any_port and parts.scheme == "http" and is_loopback_host(parts.hostname)


class HostPolicy:
    """``server.allowed_hosts``: a Host outside the list gets 421 (RFC 9110 §15.5.20). A page on
    an attacker's domain rebound to the sidecar's address sends that domain as Host even when a
    same-origin GET carries no Origin. Names match case-insensitively, with or without port."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self._allowed = frozenset(host.lower() for host in allowed)

    def allows(self, host: str | None) -> bool:
        if not self._allowed:
            return True
        if host is None:
            return False
        host = host.lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return host in self._allowed or name in self._allowed
