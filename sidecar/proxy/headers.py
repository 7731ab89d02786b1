# SPDX-License-Identifier: Apache-2.0
"""Header rules for both directions of the proxy. Pure functions over plain values.

RFC 9110 §7.6.1: a proxy removes the hop-by-hop fields and every field named in ``Connection``.
MCP authorization (2025-11-25, "Token Passthrough"): the client's token never reaches a backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from multidict import CIMultiDict, CIMultiDictProxy, istr

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

# SECURITY: never forwarded to a backend, whatever the client sends. Host is set by the client
# library from the backend URL (SDK servers bound to localhost answer 421 to a foreign Host);
# Content-Length is recomputed for buffered bodies; Expect was already answered by the sidecar.
_REQUEST_DROP = HOP_BY_HOP | {"authorization", "host", "expect", "content-length", "origin"}
# Set by the sidecar from what it can verify (see forwarded.py); client copies are dropped.
FORWARDING_HEADERS = frozenset(
    {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-real-ip", "x-request-id"}
)

_REQUEST_AND_FORWARDING = _REQUEST_DROP | FORWARDING_HEADERS
# The same names as istr, which the multidicts match without lower-casing them per request.
_REQUEST_AND_FORWARDING_NAMES = tuple(map(istr, sorted(_REQUEST_AND_FORWARDING)))
_CONNECTION, _CONTENT_LENGTH, _COOKIE, _ORIGIN = map(
    istr, ("connection", "content-length", "cookie", "origin")
)

SIDECAR_COOKIE_PREFIX = "mcp_sidecar"
"""Cookies whose name starts with this belong to the sidecar and are never forwarded."""


# What nearly every HTTP/1.1 client sends, answered without splitting.
_USUAL_CONNECTION = {value: frozenset({value}) for value in ("keep-alive", "close")}


def connection_tokens(values: Iterable[str]) -> frozenset[str]:
    """Field names listed in ``Connection`` headers (RFC 9110 §7.6.1), lower-cased."""
    if isinstance(values, list) and len(values) == 1:
        usual = _USUAL_CONNECTION.get(values[0].strip().lower())
        if usual is not None:
            return usual
    return frozenset(token.strip().lower() for value in values for token in value.split(",") if token.strip())


def _filtered(
    headers: CIMultiDictProxy[str] | CIMultiDict[str], drop: tuple[istr, ...], also: Iterable[str] = ()
) -> CIMultiDict[str]:
    """``headers`` without the names in ``drop`` or ``also``, nor those ``Connection`` names, in
    the client's order. A copy with names taken out: the multidict copies its pairs in C, and
    ``istr`` names are matched without being lower-cased again."""
    out = headers.copy()
    connection = headers.getall(_CONNECTION, None)
    for name in drop:
        if name in out:
            del out[name]  # every field of that name
    for names in (also, connection_tokens(connection) if connection else ()):
        for field in names:
            if field in out:
                del out[field]
    return out


def strip_sidecar_cookies(cookie_header: str) -> str | None:
    """Remove the sidecar's own cookies from a ``Cookie`` value; None when nothing is left."""
    kept = [
        pair.strip()
        for pair in cookie_header.split(";")
        if pair.strip() and not pair.strip().lower().startswith(SIDECAR_COOKIE_PREFIX)
    ]
    return "; ".join(kept) or None


def request_headers_for_backend(
    incoming: CIMultiDictProxy[str] | CIMultiDict[str],
    *,
    forwarded: Mapping[str, str],
    backend_origin: str,
    keep_content_length: bool,
    drop: frozenset[str] = frozenset(),
) -> CIMultiDict[str]:
    """The headers sent to the backend: client headers minus hop-by-hop, credentials and
    forwarding fields, plus the forwarding fields the sidecar vouches for.

    MCP headers (``Mcp-Session-Id``, ``MCP-Protocol-Version``, ``Mcp-Method``, ``Mcp-Name``,
    ``Mcp-Param-*``, ``Last-Event-ID``) are end-to-end fields and pass untouched.
    """
    out = _filtered(incoming, _REQUEST_AND_FORWARDING_NAMES, drop)
    if keep_content_length and (length := incoming.get(_CONTENT_LENGTH)) is not None:
        out["Content-Length"] = length
    if _COOKIE in out:
        cookies = strip_sidecar_cookies("; ".join(out.popall(_COOKIE)))
        if cookies is not None:
            out["Cookie"] = cookies
    # The sidecar checked Origin already; the backend sees its own origin so that its
    # DNS-rebinding guard (MCP transport spec, "Security Warning") accepts the request.
    if _ORIGIN in incoming:
        out["Origin"] = backend_origin
    out.update(forwarded)
    return out


_RESPONSE_DROP_SSE = HOP_BY_HOP | {"content-length"}
_HOP_BY_HOP_NAMES = tuple(map(istr, sorted(HOP_BY_HOP)))
_RESPONSE_DROP_SSE_NAMES = tuple(map(istr, sorted(_RESPONSE_DROP_SSE)))


def response_headers_for_client(
    incoming: CIMultiDictProxy[str] | CIMultiDict[str], *, is_event_stream: bool
) -> CIMultiDict[str]:
    """The backend's response headers minus hop-by-hop fields; SSE is marked unbuffered."""
    out = _filtered(incoming, _RESPONSE_DROP_SSE_NAMES if is_event_stream else _HOP_BY_HOP_NAMES)
    if is_event_stream:
        # Tells nginx-style ingresses in front of the sidecar not to buffer the stream.
        out["X-Accel-Buffering"] = "no"
    return out
