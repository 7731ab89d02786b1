# SPDX-License-Identifier: Apache-2.0
"""CORS for browser MCP clients on an allowed Origin (WHATWG Fetch, "CORS protocol").

The sidecar owns the origin policy (origin.py), so it answers preflights itself and replaces
whatever ``Access-Control-*`` headers a backend sends. Tokens travel in ``Authorization``, not in
cookies, so credentials mode is never enabled.
"""

from __future__ import annotations

from collections.abc import Mapping

from multidict import CIMultiDict

ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
_ALLOWED_REQUEST_HEADERS = frozenset(
    {
        "authorization",
        "content-type",
        "accept",
        "last-event-id",
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
    }
)
EXPOSED_HEADERS = "Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate, X-Request-Id"
MAX_AGE_SECONDS = "600"


def is_preflight(method: str, headers: Mapping[str, str]) -> bool:
    """``headers`` must match names case-insensitively (a CIMultiDict)."""
    return method == "OPTIONS" and "access-control-request-method" in headers


def preflight_headers(origin: str, requested: str | None) -> dict[str, str] | None:
    """Headers of a successful preflight, or None when a requested header is not allowed."""
    names = [name.strip().lower() for name in (requested or "").split(",") if name.strip()]
    if any(name not in _ALLOWED_REQUEST_HEADERS and not name.startswith("mcp-param-") for name in names):
        return None
    headers = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ALLOWED_METHODS,
        "Access-Control-Max-Age": MAX_AGE_SECONDS,
        "Vary": "Origin",
    }
    if names:
        headers["Access-Control-Allow-Headers"] = ", ".join(names)
    return headers


def apply_to_response(headers: CIMultiDict[str], origin: str) -> None:
    """Replace a backend's CORS headers with the sidecar's for an allowed ``origin``."""
    for name in [name for name in headers if name.lower().startswith("access-control-")]:
        headers.popall(name)
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    headers.add("Vary", "Origin")
