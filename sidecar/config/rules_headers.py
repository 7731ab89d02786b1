# SPDX-License-Identifier: Apache-2.0
"""Which header names the sidecar may set on a backend request from configuration: identity
headers (``incoming_auth.oidc.identity_headers``) and ``header_injection``."""

from __future__ import annotations

import re

from sidecar.proxy.headers import HOP_BY_HOP

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # RFC 9110 §5.1 token
# Headers whose meaning a configured value must never take over.
_RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "host",
        "content-length",
        "content-type",
        "origin",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-forwarded-host",
        "forwarded",
        "mcp-session-id",
        "mcp-protocol-version",
        "mcp-method",
        "mcp-name",
        "last-event-id",
        "x-request-id",
        "x-real-ip",
    }
)


def header_name_refused(name: str, *, allow_authorization: bool = False) -> bool:
    """True when ``name`` is not a field name, or one the sidecar or the protocol owns.

    ``allow_authorization``: a static credential (``header_injection``) may be sent as
    ``Authorization``; the client's own is always dropped first (MCP "Token Passthrough").
    """
    lowered = name.lower()
    if allow_authorization and lowered == "authorization":
        return False
    reserved = lowered in HOP_BY_HOP or lowered in _RESERVED_HEADERS or lowered.startswith("mcp-param-")
    return reserved or not _HEADER_NAME.fullmatch(name)
