# SPDX-License-Identifier: Apache-2.0
"""X-Forwarded-* trust as a table: believed only from trusted proxies, walked right to left."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from sidecar.proxy.forwarded import ProxyTrust

NETWORKS = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128"))
TRUST = ProxyTrust(NETWORKS)


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


def _direct(address: str) -> bool:
    """Trust decided afresh: an IP address inside one of TRUST's networks."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in NETWORKS)


_ADDRESSES = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(["10.0.0.2", "::1", "10.1.2.3", "203.0.113.5", "not-an-ip", "", " 10.0.0.2"]),
    st.text(max_size=12),
)


@given(st.lists(_ADDRESSES, max_size=40))
def test_trust_is_decided_the_same_when_remembered(addresses: list[str]) -> None:
    """Addresses are classified once and remembered; the answer stays the fresh one, asked
    again, and after the memory was emptied (a small limit makes that happen here)."""
    trust = ProxyTrust(NETWORKS)
    assert [trust.trusts(a) for a in addresses] == [_direct(a) for a in addresses]
    assert [trust.trusts(a) for a in reversed(addresses)] == [_direct(a) for a in reversed(addresses)]


def test_remembered_addresses_are_bounded() -> None:
    trust = ProxyTrust(NETWORKS)
    for n in range(5000):
        assert trust.trusts(f"10.0.{n // 256 % 256}.{n % 256}")
        assert not trust.trusts(f"203.0.{n // 256 % 256}.{n % 256}")
    assert len(trust._known) <= 1024  # the memory of client-written hops stays small


@given(
    peer=_ADDRESSES,
    xff=st.lists(st.lists(_ADDRESSES, max_size=4).map(", ".join), max_size=2),
    proto=st.none() | st.sampled_from(["https", "http, https", "gopher"]),
    host=st.none() | st.sampled_from(["mcp.example.com", "a, b.example:8443", "bad host/"]),
)
def test_headers_are_read_as_resolve_reads_them(
    peer: str, xff: list[str], proto: str | None, host: str | None
) -> None:
    """``from_headers`` (what the forwarder calls) gives what ``resolve`` gives for the same values."""
    headers = CIMultiDict[str]([("X-Forwarded-For", value) for value in xff])
    if proto is not None:
        headers["X-Forwarded-Proto"] = proto
    if host is not None:
        headers["X-Forwarded-Host"] = host
    own = {"own_proto": "http", "own_host": "sidecar:8080"}
    expected = TRUST.resolve(peer, xff=xff, xf_proto=proto, xf_host=host, **own)
    assert TRUST.from_headers(peer, headers=CIMultiDictProxy(headers), **own) == expected
