# SPDX-License-Identifier: Apache-2.0
"""The one guarded HTTP client for every outbound fetch (discovery, JWKS, introspection).

SECURITY (SSRF, attack checklist §2): https only unless allowed; private, loopback, link-local,
shared and metadata addresses refused unless allowed; the address checked is the address the
socket connects to (the resolver filters what the connector dials, so a DNS answer that changes
between check and use cannot slip through); redirects never followed; bodies capped; timeouts.

    OutboundError                the fetch failed; the message is safe to log
      ├─ OutboundRefused         the URL or the address it resolves to is not allowed
      └─ OutboundBadResponse     non-2xx, redirect, too large, or not the JSON expected
"""

from __future__ import annotations

import ipaddress
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from yarl import URL

MAX_BODY = 512 * 1024
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible addresses


class OutboundError(Exception):
    """An outbound fetch failed; the message names the URL's host, never a credential."""


class OutboundRefused(OutboundError):
    pass


class OutboundBadResponse(OutboundError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status when the server answered with one other than 200


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    allow_http: bool = False
    allow_private: bool = False


def address_allowed(address: str) -> bool:
    """True for publicly routable unicast addresses only."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and (ip in _NAT64 or ip in _IPV4_COMPATIBLE):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:  # judge the IPv4 address the packet really goes to
            return embedded.is_global and not embedded.is_multicast
    return ip.is_global and not ip.is_multicast


class _AddressRefused(OSError):
    pass


class _GuardedResolver(AbstractResolver):
    """Resolves like the default resolver, then drops every address that is not allowed."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        allowed = [result for result in results if address_allowed(result["host"])]
        if not allowed:
            raise _AddressRefused(f"{host} resolves only to addresses that are not allowed")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    document: Any
    headers: Mapping[str, str]


class OutboundClient:
    """Sessions per address policy, created lazily and closed together."""

    def __init__(self, *, timeout: float, max_body: int = MAX_BODY) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_body = max_body
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    def _session(self, allow_private: bool) -> aiohttp.ClientSession:
        if allow_private not in self._sessions:
            resolver = None if allow_private else _GuardedResolver()
            connector = aiohttp.TCPConnector(resolver=resolver, limit=32, ttl_dns_cache=60)
            self._sessions[allow_private] = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._sessions[allow_private]

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()

    def _check_url(self, url: str, policy: OutboundPolicy) -> URL:
        parsed = URL(url)
        if parsed.scheme not in ("https", "http") or (parsed.scheme == "http" and not policy.allow_http):
            raise OutboundRefused(f"{parsed.scheme}:// is not allowed for {parsed.host}; https is required")
        host = parsed.host or ""
        # An address literal never reaches the resolver, so it is checked here.
        if not policy.allow_private and _is_ip_literal(host) and not address_allowed(host):
            raise OutboundRefused(f"address {host} is not allowed")
        return parsed

    async def get_json(
        self,
        url: str,
        policy: OutboundPolicy,
        authorization: str | None = None,
        *,
        max_body: int | None = None,
        time_limit: float | None = None,
    ) -> tuple[Any, Mapping[str, str]]:
        """GET a JSON document; returns it with the response headers. ``max_body`` and
        ``time_limit`` tighten the client's caps for this fetch."""
        answer = await self._fetch(
            "GET", url, policy, None, authorization, max_body=max_body, time_limit=time_limit
        )
        return answer.document, answer.headers

    async def post_form(
        self, url: str, policy: OutboundPolicy, form: Mapping[str, str], authorization: str | None = None
    ) -> Any:
        return (await self._fetch("POST", url, policy, form, authorization)).document

    async def post_form_answer(
        self, url: str, policy: OutboundPolicy, form: Mapping[str, str], authorization: str | None = None
    ) -> tuple[int, Any]:
        """POST a form; the status and JSON body of a 200 or a 400/401 (an OAuth error answer,
        RFC 6749 §5.2, whose body the caller reads); any other status is ``OutboundBadResponse``."""
        answer = await self._fetch("POST", url, policy, form, authorization, statuses=(200, 400, 401))
        return answer.status, answer.document

    async def _fetch(
        self,
        method: str,
        url: str,
        policy: OutboundPolicy,
        form: Mapping[str, str] | None,
        authorization: str | None,
        *,
        statuses: tuple[int, ...] = (200,),
        max_body: int | None = None,
        time_limit: float | None = None,
    ) -> _Answer:
        target = self._check_url(url, policy)
        where = f"{target.host}{target.path}"
        limit = min(max_body, self._max_body) if max_body is not None else self._max_body
        try:
            async with self._session(policy.allow_private).request(
                method,
                target,
                data=form,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=time_limit) if time_limit is not None else self._timeout,
                headers={"Accept": "application/json"}
                | ({"Authorization": authorization} if authorization else {}),
            ) as resp:
                if resp.status not in statuses:
                    raise OutboundBadResponse(f"{where} answered {resp.status}", resp.status)
                body = bytearray()
                async for chunk in resp.content.iter_any():
                    body += chunk
                    if len(body) > limit:
                        raise OutboundBadResponse(f"{where} sent more than {limit} bytes")
                status, headers = resp.status, dict(resp.headers)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, _AddressRefused):
                raise OutboundRefused(f"{target.host} resolves only to disallowed addresses") from None
            raise OutboundError(f"{where} could not be fetched: {type(exc).__name__}") from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise OutboundError(f"{where} could not be fetched: {type(exc).__name__}") from None
        try:
            return _Answer(status, json.loads(body), headers)
        except ValueError:
            raise OutboundBadResponse(f"{where} did not send JSON") from None


def client_secret_basic(client_id: str, secret: str) -> str:
    """An ``Authorization`` value for client_secret_basic (RFC 6749 §2.3.1: both parts
    form-urlencoded before the Basic encoding, so a ``:`` in either is safe)."""
    return aiohttp.encode_basic_auth(quote_plus(client_id), quote_plus(secret))


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
