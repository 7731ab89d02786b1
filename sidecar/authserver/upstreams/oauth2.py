# SPDX-License-Identifier: Apache-2.0
"""The ``oauth2`` upstream: a plain OAuth 2.0 provider with explicit endpoints (no discovery,
no ID token). Authorization code flow with PKCE and state of its own (RFC 6749 §4.1, RFC 7636);
who the user is comes from the userinfo endpoint, called with the access token."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from urllib.parse import urlencode

from sidecar.authserver.errors import AccessDenied
from sidecar.authserver.pkce import s256
from sidecar.authserver.upstreams import CodeExchange, UpstreamResult, internal_user_id
from sidecar.config.auth_server import OAuth2Upstream
from sidecar.outbound import OutboundClient, OutboundError, OutboundPolicy
from sidecar.storage.records import UpstreamTokens, UserInfo


class OAuth2Provider:
    kind = "redirect"

    def __init__(
        self, config: OAuth2Upstream, *, client: OutboundClient, client_secret: str | None, callback_url: str
    ) -> None:
        self.name = config.name
        self._config = config.oauth2_config
        self._client, self._callback = client, callback_url
        self._policy = OutboundPolicy(
            allow_http=self._config.insecure_allow_http, allow_private=self._config.allow_private_ip
        )
        self._exchange = CodeExchange(
            client, self._policy, self._config.client_id, client_secret, callback_url
        )

    async def authorization_url(self, state: str) -> tuple[str, dict[str, str]]:
        verifier = secrets.token_urlsafe(48)
        params = {
            "response_type": "code",
            "client_id": self._config.client_id,
            "redirect_uri": self._callback,
            "state": state,
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        }
        if self._config.scopes:
            params["scope"] = " ".join(self._config.scopes)
        endpoint = self._config.authorization_endpoint
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(params)}", {"verifier": verifier}

    async def complete(self, params: Mapping[str, str], remembered: Mapping[str, str]) -> UpstreamResult:
        if "error" in params:
            raise AccessDenied("the identity provider did not authorize the login")
        tokens = await self._exchange.redeem(
            self._config.token_endpoint, params.get("code", ""), remembered.get("verifier", "")
        )
        access = tokens.get("access_token")
        if not isinstance(access, str) or not access:
            raise AccessDenied("the identity provider sent no access token")
        try:
            userinfo, _headers = await self._client.get_json(
                self._config.userinfo_endpoint, self._policy, f"Bearer {access}"
            )
        except OutboundError as exc:
            raise AccessDenied("the identity provider could not be asked who logged in") from exc
        subject = userinfo.get(self._config.subject_claim) if isinstance(userinfo, dict) else None
        if isinstance(subject, bool) or not isinstance(subject, str | int) or subject == "":
            raise AccessDenied("the identity provider did not say who logged in")
        email, name = userinfo.get("email"), userinfo.get("name")
        user = UserInfo(
            internal_user_id(self.name, str(subject)),
            self.name,
            email if isinstance(email, str) else None,
            name if isinstance(name, str) else None,
        )
        expires_in = tokens.get("expires_in")
        refresh = tokens.get("refresh_token")
        upstream = UpstreamTokens(
            provider=self.name,
            access_token=access,
            refresh_token=refresh if isinstance(refresh, str) else None,
            expires_at=time.time() + expires_in if isinstance(expires_in, int | float) else None,
        )
        return UpstreamResult(user, upstream)
