# SPDX-License-Identifier: Apache-2.0
"""RFC 9728 OAuth 2.0 Protected Resource Metadata for each MCP endpoint."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

WELL_KNOWN = "/.well-known/oauth-protected-resource"
# MCP 2026-07-28: offline_access is for the client and the AS, never advertised by a resource.
_NEVER_ADVERTISED = frozenset({"offline_access"})


def resource_url(public_url: str, path: str) -> str:
    """The canonical resource identifier: the public URL of the endpoint, no trailing slash."""
    return public_url.rstrip("/") + (path.rstrip("/") or "")


def metadata_path(path: str) -> str:
    """RFC 9728 §3.1: the well-known string goes between the host and the resource's path."""
    return WELL_KNOWN + path.rstrip("/")


def metadata(resource: str, authorization_servers: Iterable[str], scopes: Iterable[str]) -> dict[str, Any]:
    document: dict[str, Any] = {
        "resource": resource,  # §3.3: identical to the identifier the URL was built from
        "authorization_servers": list(authorization_servers),
        "bearer_methods_supported": ["header"],  # MCP: tokens only in Authorization
    }
    advertised = [scope for scope in scopes if scope not in _NEVER_ADVERTISED]
    if advertised:
        document["scopes_supported"] = advertised
    return document
