# SPDX-License-Identifier: Apache-2.0
"""X-Forwarded-* trust as a table: believed only from trusted proxies, walked right to left."""

from __future__ import annotations

import ipaddress

import pytest

from sidecar.proxy.forwarded import ProxyTrust

TRUST = ProxyTrust([ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")])


@pytest.mark.parametrize(
    ("peer", "xff", "client", "chain"),
    [
        # untrusted peer: everything the client claims is ignored
        ("203.0.113.5", "1.2.3.4", "203.0.113.5", ("203.0.113.5",)),
        ("203.0.113.5", "", "203.0.113.5", ("203.0.113.5",)),
        # trusted peer: the first untrusted hop from the right is the client
        ("10.0.0.2", "198.51.100.7", "198.51.100.7", ("198.51.100.7", "10.0.0.2")),
        (
            "10.0.0.2",
            "6.6.6.6, 198.51.100.7, 10.0.0.9",
            "198.51.100.7",
            ("198.51.100.7", "10.0.0.9", "10.0.0.2"),
        ),
        ("::1", "198.51.100.7", "198.51.100.7", ("198.51.100.7", "::1")),
        # garbage stops the walk at the last believable hop
        ("10.0.0.2", "198.51.100.7, not-an-ip", "10.0.0.2", ("10.0.0.2",)),
        # only trusted hops: the leftmost is the client
        ("10.0.0.2", "10.0.0.3", "10.0.0.3", ("10.0.0.3", "10.0.0.2")),
        ("10.0.0.2", "", "10.0.0.2", ("10.0.0.2",)),
    ],
)
def test_client_address(peer: str, xff: str, client: str, chain: tuple[str, ...]) -> None:
    resolved = TRUST.resolve(peer, own_proto="http", own_host="sidecar:8080", xff=[xff] if xff else [])
    assert resolved.client_ip == client
    assert resolved.chain == chain


@pytest.mark.parametrize(
    ("peer", "proto", "host", "want_proto", "want_host"),
    [
        ("203.0.113.5", "https", "evil.example", "http", "sidecar:8080"),
        ("10.0.0.2", "https", "mcp.example.com", "https", "mcp.example.com"),
        ("10.0.0.2", "gopher", "bad host/", "http", "sidecar:8080"),
        ("10.0.0.2", "http, https", "a.example, mcp.example.com:443", "https", "mcp.example.com:443"),
    ],
)
def test_proto_and_host(peer: str, proto: str, host: str, want_proto: str, want_host: str) -> None:
    resolved = TRUST.resolve(peer, own_proto="http", own_host="sidecar:8080", xf_proto=proto, xf_host=host)
    assert (resolved.proto, resolved.host) == (want_proto, want_host)


def test_no_trusted_proxies_trusts_nobody() -> None:
    assert not ProxyTrust([]).trusts("127.0.0.1")
