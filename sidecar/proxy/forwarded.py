# SPDX-License-Identifier: Apache-2.0
"""Which ``X-Forwarded-*`` values to believe, as a small pure class parsed once.

Client-sent forwarding headers are believed only when the TCP peer is a configured trusted proxy.
``X-Forwarded-For`` is walked right to left: each hop a trusted proxy appended is believed until
the first address that is not a trusted proxy, which is the client; anything to its left was
written by the client and is dropped.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from sidecar.config.values import IPNetwork
from sidecar.proxy.origin import is_host


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The verified view of where a request came from."""

    client_ip: str
    proto: str
    host: str
    chain: tuple[str, ...]  # X-Forwarded-For to send on: client first, the peer last

    def headers(self) -> dict[str, str]:
        return {
            "X-Forwarded-For": ", ".join(self.chain),
            "X-Forwarded-Proto": self.proto,
            "X-Forwarded-Host": self.host,
        }


class ProxyTrust:
    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        self._networks = tuple(networks)

    def trusts(self, address: str) -> bool:
        if not self._networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def resolve(
        self,
        peer: str,
        *,
        own_proto: str,
        own_host: str,
        xff: Iterable[str] = (),
        xf_proto: str | None = None,
        xf_host: str | None = None,
    ) -> Forwarded:
        if not self.trusts(peer):
            return Forwarded(peer, own_proto, own_host, (peer,))
        hops = [hop.strip() for value in xff for hop in value.split(",") if hop.strip()]
        believed = [peer]
        for hop in reversed(hops):
            if not _is_ip(hop):
                break
            believed.append(hop)
            if not self.trusts(hop):
                break
        believed.reverse()
        proto = (xf_proto or "").split(",")[-1].strip().lower()
        host = (xf_host or "").split(",")[-1].strip()
        return Forwarded(
            client_ip=believed[0],
            proto=proto if proto in ("http", "https") else own_proto,
            host=host if is_host(host) else own_host,
            chain=tuple(believed),
        )


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
