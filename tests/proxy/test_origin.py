# SPDX-License-Identifier: Apache-2.0
"""Host and Origin rules as pure functions: a table, and fuzzed with arbitrary header values."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from sidecar.proxy.origin import BadHost, HostPolicy, OriginPolicy, is_host, request_authority


@pytest.mark.parametrize(
    ("host", "target", "authority"),
    [
        ("mcp.example.com", "/mcp", "mcp.example.com"),
        ("mcp.example.com:8443", "/mcp", "mcp.example.com:8443"),
        ("[::1]:8080", "/mcp", "[::1]:8080"),
        ("my_service", "/mcp", "my_service"),
        (None, "/mcp", None),  # HTTP/1.0 without Host
        ("mcp.example.com", "http://mcp.example.com/mcp", "mcp.example.com"),
        ("mcp.example.com", "HTTP://MCP.EXAMPLE.COM:80/mcp", "mcp.example.com"),
        ("mcp.example.com:443", "https://mcp.example.com/mcp", "mcp.example.com:443"),
        (None, "http://mcp.example.com:8080/mcp", "mcp.example.com:8080"),  # RFC 9112 §3.2.2
        ("mcp.example.com", "*", "mcp.example.com"),  # asterisk-form names no authority
        ("mcp.example.com", "http://evil.example/mcp", BadHost),
        ("mcp.example.com", "http://mcp.example.com:8080/mcp", BadHost),
        ("mcp.example.com", "https://mcp.example.com:80/mcp", BadHost),
        ("mcp.example.com", "http://user@mcp.example.com/mcp", BadHost),  # RFC 9110 §4.2.4
        ("mcp.example.com", "http:///mcp", BadHost),
        ("example.com:abc", "/mcp", BadHost),
        ("example.com:", "/mcp", BadHost),
        ("example.com:65536", "/mcp", BadHost),
        ("", "/mcp", BadHost),
        ("exa mple.com", "/mcp", BadHost),
        ("example.com/x", "/mcp", BadHost),
        ("[::1", "/mcp", BadHost),
        ("mcp.example.com\n", "/mcp", BadHost),  # the whole value, not a line of it
    ],
)
def test_request_authority_table(
    host: str | None, target: str, authority: str | type[BadHost] | None
) -> None:
    """One authority per request: the Host, which an absolute-form target must name too."""
    if authority is BadHost:
        with pytest.raises(BadHost):
            request_authority(host, target)
    else:
        assert request_authority(host, target) == authority


_HOSTISH = st.text(st.sampled_from(list("aZ09.-_~:[]@/%\\ \t")), max_size=20)
_TARGETS = st.one_of(
    st.text(max_size=30),
    st.builds(lambda s, a, p: f"{s}://{a}{p}", st.sampled_from(["http", "HTTPS", "x"]), _HOSTISH, st.text()),
    st.just("/mcp"),
)


@given(st.none() | _HOSTISH | st.text(max_size=30), _TARGETS)
def test_any_host_and_target_give_one_usable_authority_or_bad_host(host: str | None, target: str) -> None:
    """Fuzzed: the authority used is a valid host[:port] the URL library builds a URL from (what
    aiohttp's request.url does), or the request is refused with BadHost; never another error."""
    try:
        authority = request_authority(host, target)
    except BadHost:
        return
    if authority is None:
        assert host is None
        return
    assert is_host(authority)
    URL.build(scheme="http", authority=authority)
    HostPolicy(["mcp.example.com"]).allows(authority)


@given(st.text(max_size=40) | _TARGETS)
def test_any_origin_is_allowed_or_refused_without_error(origin: str) -> None:
    """Fuzzed: the Origin check answers yes or no to any header value."""
    OriginPolicy(["https://app.example.com"], public_url=None).allows(origin)
    OriginPolicy([], public_url="https://mcp.example.com").allows(origin)
