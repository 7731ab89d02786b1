# SPDX-License-Identifier: Apache-2.0
"""The client side of an upstream's token endpoint: the authorization code grant (RFC 6749
§4.1.3, with the RFC 7636 verifier) and the refresh grant (RFC 6749 §6), and the one conversion
of a token response (RFC 6749 §5.1) into the ``UpstreamTokens`` kept for the user."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sidecar.authserver.errors import AccessDenied
from sidecar.authserver.upstreams.protocol import UpstreamRefused, UpstreamUnavailable
from sidecar.outbound import (
    OutboundBadResponse,
    OutboundClient,
    OutboundError,
    OutboundPolicy,
    client_secret_basic,
)
from sidecar.storage.records import UpstreamTokens

TokenResponse = dict[str, Any]


@dataclass(frozen=True, slots=True)
class TokenEndpoint:
    """One upstream token endpoint, called as the client the sidecar is registered as there."""

    client: OutboundClient
    policy: OutboundPolicy
    client_id: str
    client_secret: str | None
    callback_url: str

    async def redeem(self, url: str, code: str, verifier: str) -> TokenResponse:
        """RFC 6749 §4.1.3; any failure is the login's ``AccessDenied``."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.callback_url,
            "code_verifier": verifier,
        }
        try:
            tokens = await self._post(url, form)
        except OutboundError as exc:
            raise AccessDenied("the identity provider did not issue tokens") from exc
        if not isinstance(tokens, dict):
            raise AccessDenied("the identity provider's token response is not an object")
        return tokens

    async def refresh(self, url: str, refresh_token: str) -> TokenResponse:
        """RFC 6749 §6. A 4xx is the provider's refusal (RFC 6749 §5.2: invalid_grant for a
        revoked or expired refresh token, invalid_client); anything else that fails is an outage."""
        try:
            tokens = await self._post(url, {"grant_type": "refresh_token", "refresh_token": refresh_token})
        except OutboundBadResponse as exc:
            if exc.status is not None and 400 <= exc.status < 500:
                raise UpstreamRefused(f"the identity provider refused the refresh: {exc}") from None
            raise UpstreamUnavailable(f"the identity provider did not refresh: {exc}") from None
        except OutboundError as exc:
            raise UpstreamUnavailable(f"the identity provider cannot be reached: {exc}") from None
        access = tokens.get("access_token") if isinstance(tokens, dict) else None
        if not isinstance(access, str) or not access:
            raise UpstreamUnavailable("the identity provider's refresh response has no access token")
        return dict(tokens)

    async def _post(self, url: str, form: dict[str, str]) -> Any:
        authorization = None
        if self.client_secret is not None:
            authorization = client_secret_basic(self.client_id, self.client_secret)
        else:
            form["client_id"] = self.client_id  # a public client names itself (RFC 6749 §3.2.1)
        return await self.client.post_form(url, self.policy, form, authorization)


def upstream_tokens(
    provider: str, response: TokenResponse, now: float, id_token: str | None
) -> UpstreamTokens:
    """The tokens kept for the user from a token response. ``id_token`` is passed by the caller,
    because only a checked ID token is kept (oauth2 upstreams keep none)."""
    refresh = response.get("refresh_token")
    return UpstreamTokens(
        provider=provider,
        access_token=_string(response.get("access_token")) or "",
        refresh_token=refresh if isinstance(refresh, str) else None,
        id_token=id_token,
        expires_at=_expires_at(response, now),
        issued_at=now,
    )


def refreshed_tokens(previous: UpstreamTokens, response: TokenResponse, now: float) -> UpstreamTokens:
    """RFC 6749 §6: the new access token; a new refresh token only when the provider rotated it
    (it "MAY issue a new refresh token"), otherwise the old one stays valid and is kept. The ID
    token and claims of the login are kept: a refreshed ID token would need the OIDC Core §12.2
    checks, and nothing uses one yet."""
    refresh = response.get("refresh_token")
    return dataclasses.replace(
        previous,
        access_token=str(response["access_token"]),
        refresh_token=refresh if isinstance(refresh, str) and refresh else previous.refresh_token,
        expires_at=_expires_at(response, now),
        issued_at=now,
    )


def _expires_at(response: TokenResponse, now: float) -> float | None:
    expires_in = response.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        return None
    return now + expires_in


def _string(value: object) -> str | None:
    return value if isinstance(value, str) else None
