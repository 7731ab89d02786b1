# SPDX-License-Identifier: Apache-2.0
"""Which browser Origins and Host names may call the MCP endpoints.

MCP transports (2025-11-25, "Security Warning"): servers MUST validate the Origin header to stop
DNS-rebinding attacks; a present Origin that is not allowed gets 403. A request without Origin
is not from a browser page and passes.

The Host a request is for is read once (:func:`request_authority`); the Host check and the
``X-Forwarded-Host`` the backend is told use that one value.
"""

from __future__ import annotations

import functools
import re
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
        return _host_allowed(self._allowed, host)


# Pure, asked on every request with one of a few Host values: decided once each. The arguments
# are client-written, so the memory is a bounded LRU.
@functools.lru_cache(maxsize=256)
def _host_allowed(allowed: frozenset[str], host: str) -> bool:
    host = host.lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return host in allowed or name in allowed


class BadHost(ValueError):
    """The request's Host cannot be used (400): its text is the description for the client."""


# RFC 9110 §7.2, RFC 3986 §3.2.2: a name (the unreserved characters of a reg-name: what DNS and
# service names use), an IPv4 address or a bracketed IPv6 literal, then an optional numeric port.
_HOST = re.compile(r"(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?")
# RFC 9112 §3.2.2: an absolute-form request target, as a client talking to a proxy sends it.
_ABSOLUTE_FORM = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)")
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_NOT_A_HOST = "is not a host name or address with an optional numeric port"


@functools.lru_cache(maxsize=256)  # pure; every request's Host is checked (a bounded LRU)
def is_host(value: str) -> bool:
    """``host[:port]`` with a usable name or literal and a port from 0 to 65535."""
    match = _HOST.fullmatch(value)
    return match is not None and (match[1] is None or int(match[1]) <= 65535)


def _name_and_port(authority: str, scheme: str) -> tuple[str, str | None]:
    """A checked authority for comparison: the name lower-cased, the scheme's default port as none."""
    match = _HOST.fullmatch(authority)
    port = match[1] if match is not None else None
    name = authority[: len(authority) - len(port) - 1] if port is not None else authority
    return name.lower(), None if port == _DEFAULT_PORTS.get(scheme) else port


def request_authority(host: str | None, target: str) -> str | None:
    """The authority a request is for: its ``Host`` header (None when an HTTP/1.0 client sent
    none), which an absolute-form target must name too; BadHost when either is unusable."""
    # SECURITY: aiohttp takes request.host from an absolute-form target, but the Host check reads
    # the header: one value for both, or "GET http://other/ HTTP/1.1" + "Host: allowed" would
    # pass the check and tell the backend it was called as "other".
    if host is not None and not is_host(host):
        # A port that is no number passed aiohttp and made request.url raise (a 500).
        raise BadHost(f"the Host header {_NOT_A_HOST}")
    if target.startswith("/"):
        return host  # origin-form (RFC 9112 §3.2.1), as nearly every request: no authority in it
    absolute = _ABSOLUTE_FORM.match(target)
    if absolute is None:
        return host
    scheme, authority = absolute[1].lower(), absolute[2]
    if not is_host(authority):  # userinfo included: RFC 9110 §4.2.4 says refuse it
        raise BadHost(f"the authority of the request target {_NOT_A_HOST}")
    if host is None:
        return authority  # RFC 9112 §3.2.2: the target's authority then stands for Host
    if _name_and_port(authority, scheme) != _name_and_port(host, scheme):
        raise BadHost("the request target names another host than the Host header")
    return host
