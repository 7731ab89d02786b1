# SPDX-License-Identifier: Apache-2.0
"""Scalar value types of the configuration and their parsers.

Each parser takes the raw YAML value and returns the typed value or raises ``ValueError`` whose
message says what a correct value looks like.
"""

from __future__ import annotations

import ipaddress
import re
from typing import NewType
from urllib.parse import SplitResult, urlsplit

Seconds = NewType("Seconds", float)
"""A duration in seconds, written ``500ms``, ``30s``, ``10m``, ``1h`` or ``7d``."""

ByteSize = NewType("ByteSize", int)
"""A size in bytes, written as an integer or ``512KiB``, ``4MiB``, ``1GiB``."""

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
NAME_FIX = "use 1-63 characters of a-z, 0-9, _ and -, starting with a letter or digit"
FIELD_VALUE = re.compile(r"([\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?)?")
"""An RFC 9110 §5.5 field value of visible ASCII only (no CR/LF, no obs-text); may be empty."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
}


def parse_duration(raw: object) -> Seconds:
    """Parse ``30s``-style durations; a bare number is refused because its unit would be a guess."""
    if isinstance(raw, str) and (match := _DURATION.match(raw)):
        return Seconds(float(match[1]) * _DURATION_UNITS[match[2]])
    raise ValueError(f"expected a duration such as 500ms, 30s, 10m, 1h or 7d, got {raw!r}")


def parse_size(raw: object) -> ByteSize:
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return ByteSize(raw)
    if isinstance(raw, str) and (match := _SIZE.match(raw)):
        return ByteSize(int(match[1]) * _SIZE_UNITS[match[2]])
    raise ValueError(f"expected a size in bytes such as 1048576, 512KiB or 4MiB, got {raw!r}")


def parse_network(raw: object) -> IPNetwork:
    if isinstance(raw, str):
        try:
            return ipaddress.ip_network(raw.strip(), strict=False)
        except ValueError:
            pass
    raise ValueError(f"expected an IP address or CIDR such as 10.0.0.0/8 or ::1, got {raw!r}")


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` (any case) and loopback IP literals: 127.0.0.0/8, ``::1`` and
    127.x written IPv4-mapped (``::ffff:127.0.0.1``). Names are never resolved. The one loopback
    rule of the sidecar: backend URLs and issuers here, loopback redirect URIs (RFC 8252 §7.3,
    §8.3) and the loopback Origins accepted when ``server.public_url`` is not set."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def origin_problem(value: str) -> str | None:
    """Why ``value`` is not a bare ``scheme://host[:port]`` origin, or None when it is."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute http or https URL"
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        return "must be an origin only (scheme, host and port), without path, query or credentials"
    del port
    return None


def split_url(value: str) -> SplitResult | None:
    """``urlsplit`` with the port validated; None for anything that is not a usable URL."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port outside 0-65535
    except ValueError:
        return None
    return parts


def endpoint_problem(url: str, allow_http: bool) -> tuple[str, str] | None:
    """Why ``url`` cannot be an endpoint the sidecar calls, and the fix; None when it can."""
    parts = split_url(url)
    if parts is None:
        return f"{url!r} is not a valid URL", "write an absolute https URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{url!r} must be an absolute https URL", "write an absolute https URL"
    if parts.scheme == "http" and not allow_http:
        return "must use https", "use https, or set insecure_allow_http: true for development"
    if parts.fragment or parts.username or parts.password:
        return "must not carry a fragment or credentials", "remove them"
    return None


def canonical_origin(value: str) -> str:
    """``scheme://host[:port]`` lower-cased with the default port dropped (RFC 6454 §6.2)."""
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def name_problem(value: str) -> str | None:
    """Why ``value`` is not a valid backend or upstream name (it goes into logs and metric
    labels), or None when it is."""
    return None if _NAME.fullmatch(value) else f"{value!r} is not a valid name"


def cleartext_url_problem(value: str) -> str | None:
    """Why a URL the sidecar is reached at sends tokens in the clear, or None: ``http`` on a
    host that is not loopback."""
    parts = split_url(value)
    if parts is None or parts.scheme != "http" or not parts.hostname or is_loopback_host(parts.hostname):
        return None
    return (
        "uses http on a host that is not loopback: tokens, codes and cookies would cross the network in clear"
    )
