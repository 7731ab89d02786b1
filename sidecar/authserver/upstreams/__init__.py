# SPDX-License-Identifier: Apache-2.0
"""Upstream identity providers users log in with: ``oidc`` (any OpenID Provider) and
``static`` (local users with scrypt hashes and a login page, for demos and small setups)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from sidecar.authserver.errors import AccessDenied
from sidecar.outbound import OutboundClient, OutboundError, OutboundPolicy, client_secret_basic
from sidecar.storage.records import UpstreamTokens, UserInfo


@dataclass(frozen=True, slots=True)
class UpstreamResult:
    user: UserInfo
    tokens: UpstreamTokens | None


@dataclass(frozen=True, slots=True)
class CodeExchange:
    """The client side of an upstream token endpoint (RFC 6749 §4.1.3, with RFC 7636 PKCE)."""

    client: OutboundClient
    policy: OutboundPolicy
    client_id: str
    client_secret: str | None
    callback_url: str

    async def redeem(self, token_endpoint: str, code: str, verifier: str) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.callback_url,
            "code_verifier": verifier,
        }
        authorization = None
        if self.client_secret is not None:
            authorization = client_secret_basic(self.client_id, self.client_secret)
        else:
            form["client_id"] = self.client_id  # a public client names itself (RFC 6749 §3.2.1)
        try:
            tokens = await self.client.post_form(token_endpoint, self.policy, form, authorization)
        except OutboundError as exc:
            raise AccessDenied("the identity provider did not issue tokens") from exc
        if not isinstance(tokens, dict):
            raise AccessDenied("the identity provider's token response is not an object")
        return tokens


def internal_user_id(provider: str, subject: str) -> str:
    """A stable subject that does not expose the upstream's (same provider + subject, same id)."""
    digest = hashlib.sha256(f"{provider}\0{subject}".encode()).digest()
    return "u-" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:32]
