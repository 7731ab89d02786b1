# SPDX-License-Identifier: Apache-2.0
"""Public paths to backend URLs. A route owns its prefix on segment boundaries: ``/mcp`` serves
``/mcp``, ``/mcp/`` and ``/mcp/...``, and the rest of the path is appended to the target."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from urllib.parse import unquote

from yarl import URL

from sidecar.config import BackendSettings


class RouteKind(enum.Enum):
    STREAMABLE_HTTP = "streamable_http"
    SSE_STREAM = "sse"  # legacy HTTP+SSE: the GET stream whose endpoint event is rewritten
    SSE_MESSAGES = "messages"  # legacy HTTP+SSE: the POST endpoint


@dataclass(frozen=True, slots=True)
class Route:
    backend: BackendSettings
    kind: RouteKind
    prefix: str  # public path without a trailing slash
    target: URL  # backend URL the prefix maps to
    target_origin: str
    # Made once: the target's path without its trailing slash, and the whole target of a request
    # for the prefix itself without a query (what nearly every MCP request is).
    _base: str = field(init=False, repr=False, compare=False)
    _exact: URL = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_base", self.target.raw_path.rstrip("/"))
        object.__setattr__(self, "_exact", URL(self.target_origin + self.target.raw_path, encoded=True))

    def target_for(self, raw_path: str, raw_query: str) -> URL | None:
        """The backend URL for an already percent-encoded request path and query, or None when
        the path would leave the route (see :func:`confined_rest`)."""
        rest = confined_rest(raw_path, self.prefix)
        if rest is None:
            return None
        if not rest and not raw_query:
            return self._exact
        path = self._base + rest if rest else self.target.raw_path
        return URL(self.target_origin + path + (f"?{raw_query}" if raw_query else ""), encoded=True)

    def public_location(self, location: str) -> str:
        """A redirect ``Location`` on the backend's origin, as a path on the sidecar (so the
        backend's loopback address never reaches the client); other locations unchanged."""
        if not location.startswith(self.target_origin + "/"):
            return location
        path = location[len(self.target_origin) :]
        base = self.target.raw_path.rstrip("/")
        if base and (path == base or path.startswith(base + "/") or path.startswith(base + "?")):
            return self.prefix + path[len(base) :]
        return path

    def patterns(self) -> tuple[str, str]:
        """aiohttp route patterns for the prefix itself and everything below it."""
        return self.prefix, self.prefix + "/{tail:.*}"


def confined_rest(raw_path: str, prefix: str) -> str | None:
    r"""The part of ``raw_path`` below ``prefix``, or None when the request must not be forwarded.

    SECURITY: aiohttp routes on the *decoded* path, so ``/%6Dcp`` matches the route ``/mcp``
    although its raw form does not start with it; and a backend that normalises paths would
    resolve ``/mcp/../admin`` (or ``%2e%2e``, or ``..\``) outside the route. Both are refused.
    """
    if not raw_path.startswith(prefix):
        return None
    rest = raw_path[len(prefix) :]
    if not rest:
        return rest
    if not rest.startswith("/"):
        return None
    if "." not in rest and "%" not in rest and "\\" not in rest:
        return rest  # no dot segment can be in it, encoded or not
    decoded = unquote(rest).replace("\\", "/")
    if any(segment in (".", "..") for segment in decoded.split("/")):
        return None
    return rest


def routes_for(backend: BackendSettings) -> list[Route]:
    base = URL(backend.url)
    origin = str(base.origin())
    routes = [Route(backend, RouteKind.STREAMABLE_HTTP, backend.path.rstrip("/"), base, origin)]
    if backend.sse_path is not None:
        for kind, path in (
            (RouteKind.SSE_STREAM, backend.sse_path),
            (RouteKind.SSE_MESSAGES, backend.messages_path),
        ):
            target = base.with_path(path, encoded=False).with_query(None)
            routes.append(Route(backend, kind, path.rstrip("/"), target, origin))
    return routes
