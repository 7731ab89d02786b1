# SPDX-License-Identifier: Apache-2.0
"""Header rules as tables (RFC 9110 §7.6.1 hop-by-hop, MCP no-token-passthrough)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict

from sidecar.proxy.headers import (
    request_headers_for_backend,
    response_headers_for_client,
    strip_sidecar_cookies,
)

FORWARDED = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "mcp.example",
}


def _to_backend(*pairs: tuple[str, str], keep_content_length: bool = False) -> CIMultiDict[str]:
    return request_headers_for_backend(
        CIMultiDict(pairs),
        forwarded=FORWARDED,
        backend_origin="http://127.0.0.1:3001",
        keep_content_length=keep_content_length,
    )


@pytest.mark.parametrize(
    "name",
    [
        "Connection",
        "Keep-Alive",
        "Proxy-Connection",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
    ],
)
def test_hop_by_hop_request_headers_removed(name: str) -> None:
    assert name not in _to_backend((name, "x"), ("Accept", "*/*"))


@pytest.mark.parametrize(
    ("connection", "removed"),
    [
        ("X-Custom", ["X-Custom"]),
        ("keep-alive, X-A,  x-b", ["X-A", "X-B"]),
        ("X-Forwarded-For", []),  # removed from the client's copy, then set by the sidecar
        ("Mcp-Session-Id", ["Mcp-Session-Id"]),
    ],
)
def test_connection_named_request_headers_removed(connection: str, removed: list[str]) -> None:
    out = _to_backend(
        ("Connection", connection),
        ("X-Custom", "1"),
        ("X-A", "1"),
        ("X-B", "1"),
        ("Mcp-Session-Id", "s"),
        ("X-Forwarded-For", "6.6.6.6"),
    )
    for name in removed:
        assert name not in out
    assert out["X-Forwarded-For"] == "203.0.113.9"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Authorization", "Bearer abc"),
        ("authorization", "bearer abc"),
        ("AUTHORIZATION", "Basic eDp5"),
        ("Host", "evil.example"),
        ("Expect", "100-continue"),
        ("Content-Length", "12"),
    ],
)
def test_credentials_and_framing_never_forwarded(name: str, value: str) -> None:
    assert name not in _to_backend((name, value))


@pytest.mark.parametrize(
    "name",
    ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Real-IP", "X-Request-Id"],
)
def test_client_forwarding_headers_replaced(name: str) -> None:
    out = _to_backend((name, "spoofed"))
    assert out.get(name) != "spoofed"


def test_content_length_kept_for_streamed_bodies() -> None:
    assert _to_backend(("Content-Length", "100000"), keep_content_length=True)["Content-Length"] == "100000"


@pytest.mark.parametrize(
    "name",
    [
        "Mcp-Session-Id",
        "MCP-Protocol-Version",
        "Mcp-Method",
        "Mcp-Name",
        "Mcp-Param-Foo",
        "Last-Event-ID",
        "Accept",
        "Content-Type",
        "Content-Encoding",
    ],
)
def test_end_to_end_headers_pass(name: str) -> None:
    assert _to_backend((name, "v"))[name] == "v"


@pytest.mark.parametrize(
    ("origin", "expected"), [(None, None), ("https://app.example", "http://127.0.0.1:3001")]
)
def test_origin_rewritten_to_backend_origin(origin: str | None, expected: str | None) -> None:
    pairs = [] if origin is None else [("Origin", origin)]
    assert _to_backend(*pairs).get("Origin") == expected


@pytest.mark.parametrize(
    ("cookie", "kept"),
    [
        ("mcp_sidecar_session=a", None),
        ("theme=dark; mcp_sidecar_csrf=b", "theme=dark"),
        ("a=1;b=2", "a=1; b=2"),
        ("MCP_SIDECAR_X=1; a=1", "a=1"),
    ],
)
def test_sidecar_cookies_stripped(cookie: str, kept: str | None) -> None:
    assert strip_sidecar_cookies(cookie) == kept
    assert _to_backend(("Cookie", cookie)).get("Cookie") == kept


@pytest.mark.parametrize(
    ("name", "sse", "kept"),
    [
        ("Connection", False, False),
        ("Keep-Alive", False, False),
        ("Transfer-Encoding", True, False),
        ("Content-Length", True, False),
        ("Content-Length", False, True),
        ("Mcp-Session-Id", True, True),
        ("Set-Cookie", False, True),
        ("Content-Encoding", False, True),
        ("Cache-Control", True, True),
    ],
)
def test_response_headers(name: str, sse: bool, kept: bool) -> None:
    out = response_headers_for_client(CIMultiDict([(name, "1")]), is_event_stream=sse)
    assert (name in out) is kept


def test_response_connection_named_removed_and_sse_unbuffered() -> None:
    out = response_headers_for_client(
        CIMultiDict([("Connection", "X-Hop"), ("X-Hop", "1")]), is_event_stream=True
    )
    assert "X-Hop" not in out
    assert out["X-Accel-Buffering"] == "no"


def _reference_filter(headers: CIMultiDict[str], drop: frozenset[str]) -> list[tuple[str, str]]:
    """RFC 9110 §7.6.1 read plainly: every Connection value split on commas, each name
    compared lower-cased; what the header functions keep, in the client's order."""
    named = {t.strip().lower() for v in headers.getall("Connection", []) for t in v.split(",") if t.strip()}
    return [(n, v) for n, v in headers.items() if n.lower() not in drop and n.lower() not in named]


_NAMES = st.sampled_from(
    [
        "Accept",
        "Connection",
        "connection",
        "Keep-Alive",
        "TE",
        "Authorization",
        "X-Forwarded-For",
        "Mcp-Session-Id",
        "X-Custom",
        "x-custom",
        "Content-Length",
        "Cookie",
        "X-User",
        "Close",
    ]
)
_VALUES = st.sampled_from(["keep-alive", "close", " Close ", "x-custom, keep-alive", "X-User", ",", "", "1"])


@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=8))
def test_kept_headers_are_the_plain_readings(pairs: list[tuple[str, str]]) -> None:
    """Whatever the Connection values (the usual ones take a shortcut), the client headers that
    reach the backend, and those that reach the client, are the ones the plain reading keeps."""
    headers = CIMultiDict(pairs)
    drop_request = frozenset({"x-user"})
    out = request_headers_for_backend(
        headers, forwarded={}, backend_origin="http://b", keep_content_length=False, drop=drop_request
    )
    always = frozenset({"authorization", "host", "expect", "content-length", "origin", "cookie"})
    hop = frozenset({"connection", "keep-alive", "te", "x-forwarded-for", *drop_request, *always})
    assert [p for p in out.items() if p[0].lower() != "cookie"] == _reference_filter(headers, hop)
    back = response_headers_for_client(headers, is_event_stream=False)
    assert list(back.items()) == _reference_filter(headers, frozenset({"connection", "keep-alive", "te"}))
