# SPDX-License-Identifier: Apache-2.0
"""Redirect URIs: what may be registered and how a request's URI must match.

RFC 9700 §2.1 and OAuth 2.1 §2.3.1: exact string matching, except that for a loopback URI of a
native app the port may differ (RFC 8252 §7.3), and nothing else may. Registered URIs are https,
http on a loopback IP literal (RFC 8252 §8.3), or a private-use scheme (RFC 8252 §7.1, reverse
domain name), and are written exactly as yarl writes them: yarl is the URL library aiohttp builds
the redirect's ``Location`` with, so a redirect can always be built and goes exactly where the
client registered.
"""

from __future__ import annotations

import re

from yarl import URL

from sidecar.authserver.errors import InvalidRedirectUri
from sidecar.config.values import is_loopback_host

_PRIVATE_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*\.[a-z0-9+.-]+$")  # contains a dot: reverse DNS
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob"})
MAX_URI_LENGTH = 2000


def _as_url(uri: str) -> URL:
    """``uri`` as the URL library reads it, when it writes it back unchanged."""
    # SECURITY: a URI yarl refuses (a backslash in the authority, a port that is no number) would
    # fail only when the redirect is built, after the login used up the pending request (a 500);
    # one yarl rewrites (case, default port, dot segments, percent-encoding) would send the code
    # to a URI that is not byte for byte the registered one.
    try:
        url = URL(uri)
    except Exception:  # yarl raises more than ValueError: an IndexError for "0://[]@"
        raise InvalidRedirectUri("a redirect URI is not a valid URI") from None
    if str(url) != uri:
        raise InvalidRedirectUri(f"a redirect URI must be written in normal form: {str(url)!r}")
    return url


def check_registrable(uri: str) -> str:
    """Raise InvalidRedirectUri unless ``uri`` may be registered."""
    if not uri or len(uri) > MAX_URI_LENGTH or not all(0x20 < ord(c) < 0x7F for c in uri):
        raise InvalidRedirectUri(
            "a redirect URI must be a non-empty ASCII URI without spaces or control characters"
        )
    url = _as_url(uri)
    if "#" in uri:
        raise InvalidRedirectUri("a redirect URI must not have a fragment (OAuth 2.1 §2.3)")
    if "@" in url.raw_authority:
        raise InvalidRedirectUri("a redirect URI must not carry user information")
    if url.scheme == "https" and url.raw_host:
        return uri
    if url.scheme == "http" and is_loopback_host(url.raw_host):
        return uri
    if url.scheme == "http":
        raise InvalidRedirectUri("http redirect URIs are allowed on loopback only; use https")
    if url.scheme in _FORBIDDEN_SCHEMES or not _PRIVATE_SCHEME.match(url.scheme):
        raise InvalidRedirectUri(
            "the redirect URI scheme must be https, http on loopback, or a reverse-DNS private-use scheme"
        )
    return uri


def is_registrable(uri: str) -> bool:
    """Whether :func:`check_registrable` accepts ``uri``."""
    try:
        check_registrable(uri)
    except InvalidRedirectUri:
        return False
    return True


def _loopback_without_port(uri: str) -> str | None:
    """A registrable loopback URI with its port removed; None for any other URI."""
    url = URL(uri)
    if url.scheme != "http" or not is_loopback_host(url.raw_host):
        return None
    return str(url.with_port(None))


def matches(requested: str, registered: tuple[str, ...]) -> bool:
    """Exact match, or the same loopback URI on another port (RFC 8252 §7.3); never a URI that
    could not be registered, so never one the redirect cannot be built with."""
    if not is_registrable(requested):
        return False
    if requested in registered:
        return True
    # RFC 8252 §7.3: only the port may vary; userinfo, host, path and query may not.
    stripped = _loopback_without_port(requested)
    return stripped is not None and any(
        is_registrable(uri) and _loopback_without_port(uri) == stripped for uri in registered
    )
