# SPDX-License-Identifier: Apache-2.0
"""Cross-field rules, run after parsing by both ``serve`` and ``check-config``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from sidecar.config.errors import ConfigIssue
from sidecar.config.schema import BackendSettings, ServerSettings, Settings
from sidecar.config.values import is_loopback_host, origin_problem

# Paths the sidecar serves itself; a backend may not claim them.
RESERVED_PREFIXES = ("/health", "/readyz", "/metrics", "/.well-known", "/oauth")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_rules(settings: Settings) -> list[ConfigIssue]:
    issues = list(_check_server(settings.server))
    if not settings.backends:
        issues.append(
            ConfigIssue(
                "backends",
                "must list at least one backend",
                "add {name, url, path} for the MCP server in the pod",
            )
        )
    seen_names: dict[str, int] = {}
    claimed: list[tuple[str, str]] = []  # (public path, key path)
    for index, backend in enumerate(settings.backends):
        where = f"backends[{index}]"
        issues.extend(_check_backend(backend, where))
        if backend.name in seen_names:
            issues.append(
                ConfigIssue(
                    f"{where}.name",
                    f"duplicates backends[{seen_names[backend.name]}].name {backend.name!r}",
                    "give every backend a unique name",
                )
            )
        seen_names.setdefault(backend.name, index)
        claimed.append((backend.path, f"{where}.path"))
        if backend.sse_path is not None:
            claimed.append((backend.sse_path, f"{where}.sse_path"))
            claimed.append((backend.messages_path, f"{where}.messages_path"))
    issues.extend(_check_path_overlaps(claimed))
    return issues


def _check_server(server: ServerSettings) -> Iterator[ConfigIssue]:
    if not 0 <= server.port <= 65535:
        yield ConfigIssue("server.port", f"must be between 0 and 65535, got {server.port}")
    if server.metrics_port is not None:
        if not 1 <= server.metrics_port <= 65535:
            yield ConfigIssue(
                "server.metrics_port", f"must be between 1 and 65535, got {server.metrics_port}"
            )
        elif server.metrics_port == server.port:
            yield ConfigIssue(
                "server.metrics_port",
                "must differ from server.port",
                "omit it to serve /metrics on the main port",
            )
    if server.public_url is not None and (problem := origin_problem(server.public_url)):
        yield ConfigIssue("server.public_url", problem, "write it as https://mcp.example.com")
    for index, origin in enumerate(server.allowed_origins):
        if problem := origin_problem(origin):
            yield ConfigIssue(
                f"server.allowed_origins[{index}]", problem, "write it as https://app.example.com"
            )
    for key in ("header_timeout", "idle_timeout"):
        if getattr(server, key) <= 0:
            yield ConfigIssue(f"server.{key}", "must be greater than zero")


def _check_backend(backend: BackendSettings, where: str) -> Iterator[ConfigIssue]:
    if not _NAME.match(backend.name):
        yield ConfigIssue(
            f"{where}.name",
            f"{backend.name!r} is not a valid name",
            "use 1-63 characters of a-z, 0-9, _ and -, starting with a letter or digit",
        )
    yield from _check_backend_url(backend, where)
    for key in ("path", "sse_path", "messages_path"):
        value = getattr(backend, key)
        if value is None or (key == "messages_path" and backend.sse_path is None):
            continue
        if problem := _path_problem(value):
            yield ConfigIssue(f"{where}.{key}", problem, "write an absolute path such as /mcp")
    if backend.health.path is not None and (problem := _path_problem(backend.health.path)):
        yield ConfigIssue(f"{where}.health.path", problem, "write an absolute path such as /health")
    for key, value in (
        ("connect_timeout", backend.connect_timeout),
        ("read_timeout", backend.read_timeout),
        ("sse_read_timeout", backend.sse_read_timeout),
        ("health.timeout", backend.health.timeout),
    ):
        if value is not None and value <= 0:
            yield ConfigIssue(
                f"{where}.{key}",
                "must be greater than zero",
                "use null to switch it off" if key in ("read_timeout", "sse_read_timeout") else "",
            )
    if backend.health.interval < 0.1:
        yield ConfigIssue(f"{where}.health.interval", "must be at least 100ms")


def _check_backend_url(backend: BackendSettings, where: str) -> Iterator[ConfigIssue]:
    try:
        parts = urlsplit(backend.url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        yield ConfigIssue(
            f"{where}.url", f"is not a valid URL ({exc})", "write it as http://127.0.0.1:3001/mcp"
        )
        return
    if parts.scheme not in ("http", "https") or not parts.hostname:
        yield ConfigIssue(
            f"{where}.url",
            f"{backend.url!r} must be an absolute http or https URL",
            "write it as http://127.0.0.1:3001/mcp",
        )
        return
    if parts.query or parts.fragment or parts.username or parts.password:
        yield ConfigIssue(
            f"{where}.url",
            "must not carry a query, fragment or credentials",
            "put credentials in outgoing_auth",
        )
    if not backend.allow_remote and not is_loopback_host(parts.hostname):
        yield ConfigIssue(
            f"{where}.url",
            f"host {parts.hostname!r} is not on loopback",
            "use 127.0.0.1 for a server in the same pod, or set allow_remote: true",
        )


def _path_problem(path: str) -> str | None:
    if not path.startswith("/"):
        return f"{path!r} must start with /"
    if any(c in path for c in "?#") or any(ord(c) <= 0x20 for c in path):
        return f"{path!r} must be a plain path without query, fragment, spaces or control characters"
    if any(seg in (".", "..") for seg in path.split("/")):
        return f"{path!r} must not contain . or .. segments"
    if path == "/":
        return "the root path / would shadow the sidecar's own routes"
    return None


def _segment_prefix(a: str, b: str) -> bool:
    """True when one path routes inside the other (``/mcp`` and ``/mcp/x``, or equal)."""
    a, b = a.rstrip("/"), b.rstrip("/")
    return a == b or b.startswith(a + "/") or a.startswith(b + "/")


def _check_path_overlaps(claimed: list[tuple[str, str]]) -> Iterator[ConfigIssue]:
    for i, (path, key) in enumerate(claimed):
        for reserved in RESERVED_PREFIXES:
            if _segment_prefix(path, reserved):
                yield ConfigIssue(
                    key, f"{path!r} overlaps the sidecar's own route {reserved}", "choose another public path"
                )
        for other, other_key in claimed[:i]:
            if _segment_prefix(path, other):
                yield ConfigIssue(
                    key, f"{path!r} overlaps {other_key} {other!r}", "give every backend route its own path"
                )
