# SPDX-License-Identifier: Apache-2.0
"""What the redirect upstreams (``oidc``, ``oauth2``) share: the outbound policy, the
authorization code flow with PKCE and state of their own (RFC 6749 §4.1, RFC 7636), the token
endpoint client, and the refresh grant. A subclass says where the endpoints are, what else goes
into the authorization request, and who logged in.

The client's RFC 8707 ``resource`` is never forwarded upstream (it names our resource, not
theirs). Fetches go through the guarded outbound client.
"""

from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import ClassVar, Literal, Protocol
from urllib.parse import urlencode

from sidecar.authserver.errors import AccessDenied, TemporarilyUnavailable
from sidecar.authserver.pkce import s256
from sidecar.authserver.upstreams.protocol import (
    UpstreamRefused,
    UpstreamResult,
    UpstreamStart,
    UpstreamUnavailable,
)
from sidecar.authserver.upstreams.token_endpoint import TokenEndpoint, TokenResponse, refreshed_tokens
from sidecar.outbound import OutboundClient, OutboundPolicy
from sidecar.storage.records import UpstreamTokens


class ClientRegistration(Protocol):
    """The sidecar as a client of the provider: ``oidc_config`` and ``oauth2_config`` both are."""

    @property
    def client_id(self) -> str: ...
    @property
    def insecure_allow_http(self) -> bool: ...
    @property
    def allow_private_ip(self) -> bool: ...


class RedirectUpstream(ABC):
    """An OAuth 2.0 provider the user is sent to, and comes back from at the callback."""

    kind: ClassVar[Literal["form", "redirect"]] = "redirect"
    issuer: str | None = None  # known for oidc: then an ``iss`` in the callback must match it

    def __init__(
        self,
        name: str,
        registration: ClientRegistration,
        *,
        client: OutboundClient,
        client_secret: str | None,
        callback_url: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._client_id, self._callback = registration.client_id, callback_url
        self._client, self._clock = client, clock
        self._policy = OutboundPolicy(
            allow_http=registration.insecure_allow_http, allow_private=registration.allow_private_ip
        )
        self._tokens = TokenEndpoint(client, self._policy, self._client_id, client_secret, callback_url)

    @abstractmethod
    async def _authorization_endpoint(self) -> str:
        """The provider's authorization endpoint."""

    @abstractmethod
    async def _token_endpoint_url(self) -> str:
        """The provider's token endpoint."""

    def _request_extras(self) -> dict[str, str]:
        """More authorization request parameters, also remembered for the callback (the nonce)."""
        return {}

    @abstractmethod
    def _scope(self) -> str | None:
        """The ``scope`` requested upstream, if any."""

    @abstractmethod
    async def _identify(self, response: TokenResponse, remembered: Mapping[str, str]) -> UpstreamResult:
        """Who logged in, from the token response, and the tokens kept for the user."""

    async def begin(self, state: str) -> UpstreamStart:
        """The provider's authorization URL with our own PKCE verifier (kept for the callback)."""
        endpoint = await self._authorization_endpoint()
        verifier = secrets.token_urlsafe(48)
        extras = self._request_extras()
        params = {
            "response_type": "code",
            "client_id": self._client_id,
            "redirect_uri": self._callback,
            "state": state,
            **extras,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
        if (scope := self._scope()) is not None:
            params["scope"] = scope
        url = f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}"
        return UpstreamStart(url, {"verifier": verifier, **extras})

    async def complete(self, params: Mapping[str, str], remembered: Mapping[str, str]) -> UpstreamResult:
        """Finish the upstream leg from the callback's query parameters."""
        if "error" in params:
            raise AccessDenied("the identity provider did not authorize the login")
        # RFC 9207 §2.4: when the provider says who it is, it must be the provider we sent the user to.
        if self.issuer is not None and "iss" in params and params["iss"] != self.issuer:
            raise AccessDenied("the authorization response came from another issuer")
        response = await self._tokens.redeem(
            await self._token_endpoint_url(), params.get("code", ""), remembered.get("verifier", "")
        )
        return await self._identify(response, remembered)

    async def refresh(self, tokens: UpstreamTokens) -> UpstreamTokens:
        """New tokens for the user with the refresh grant (RFC 6749 §6)."""
        if tokens.refresh_token is None:
            raise UpstreamRefused("the identity provider gave no refresh token at login")
        try:
            url = await self._token_endpoint_url()
        except TemporarilyUnavailable as exc:
            raise UpstreamUnavailable(exc.description) from None
        response = await self._tokens.refresh(url, tokens.refresh_token)
        return refreshed_tokens(tokens, response, self._clock())
