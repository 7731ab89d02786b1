# SPDX-License-Identifier: Apache-2.0
"""Redirect URIs: what may be registered and how a request's URI must match.

RFC 9700 §2.1 and OAuth 2.1 §2.3.1: exact string matching, except that for a loopback URI of a
native app the port may differ (RFC 8252 §7.3). Registered URIs are https, http on a loopback
IP literal (RFC 8252 §8.3), or a private-use scheme (RFC 8252 §7.1, reverse domain name).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from sidecar.authserver.errors import InvalidRedirectUri
from sidecar.config.values import is_loopback_host

_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+$")  # contains a dot: reverse DNS
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob"})
MAX_URI_LENGTH = 2000


def check_registrable(uri: str) -> str:
    """Raise InvalidRedirectUri unless ``uri`` may be registered."""
    if not uri or len(uri) > MAX_URI_LENGTH or any(ord(c) <= 0x20 for c in uri):
        raise InvalidRedirectUri(
            "a redirect URI must be a non-empty URI without spaces or control characters"
        )
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise InvalidRedirectUri("a redirect URI is not a valid URI") from None
    scheme = parts.scheme.lower()
    if parts.fragment or "#" in uri:
        raise InvalidRedirectUri("a redirect URI must not have a fragment (OAuth 2.1 §2.3)")
    if parts.username or parts.password:
        raise InvalidRedirectUri("a redirect URI must not carry user information")
    if scheme == "https" and parts.hostname:
        return uri
    if scheme == "http" and is_loopback_host(parts.hostname):
        return uri
    if scheme == "http":
        raise InvalidRedirectUri("http redirect URIs are allowed on loopback only; use https")
    if scheme in _FORBIDDEN_SCHEMES or not _PRIVATE_SCHEME.match(scheme):
        raise InvalidRedirectUri(
            "the redirect URI scheme must be https, http on loopback, or a reverse-DNS private-use scheme"
        )
    return uri


def _without_port(uri: str) -> str:
    parts = urlsplit(uri)
    return urlunsplit((parts.scheme, parts.hostname or "", parts.path, parts.query, parts.fragment))


def matches(requested: str, registered: tuple[str, ...]) -> bool:
    """Exact match, or the same loopback URI on another port (RFC 8252 §7.3)."""
    if requested in registered:
        return True
    try:
        parts = urlsplit(requested)
    except ValueError:
        return False
    if parts.scheme != "http" or not is_loopback_host(parts.hostname):
        return False
    stripped = _without_port(requested)
    return any(
        urlsplit(r).scheme == "http"
        and is_loopback_host(urlsplit(r).hostname)
        and _without_port(r) == stripped
        for r in registered
    )
