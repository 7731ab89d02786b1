# SPDX-License-Identifier: Apache-2.0
"""The ``oidc`` upstream: OpenID Connect Core §3.1 authorization code flow with PKCE, state and
nonce of its own; the ID token is checked like an access token (signature by the provider's
JWKS, exact issuer, audience = our client id, times) plus its nonce.

The client's RFC 8707 ``resource`` is never forwarded upstream (it names our resource, not
theirs). Fetches go through the guarded outbound client.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from sidecar.authn import access_token
from sidecar.authn import errors as authn_errors
from sidecar.authn.jwks import JwksSource, discovery_urls
from sidecar.authserver.errors import AccessDenied, TemporarilyUnavailable
from sidecar.authserver.pkce import s256
from sidecar.authserver.upstreams import CodeExchange, UpstreamResult, internal_user_id
from sidecar.config.auth_server import OidcUpstream
from sidecar.config.schema import SUPPORTED_ALGORITHMS
from sidecar.observability.metrics import Metrics
from sidecar.outbound import OutboundClient, OutboundError, OutboundPolicy
from sidecar.storage.records import UpstreamTokens, UserInfo

_ALGORITHMS = frozenset(SUPPORTED_ALGORITHMS)


class OidcProvider:
    kind = "redirect"

    def __init__(
        self,
        config: OidcUpstream,
        *,
        client: OutboundClient,
        client_secret: str | None,
        callback_url: str,
        metrics: Metrics,
    ) -> None:
        self.name = config.name
        self._config = config.oidc_config
        self._client, self._callback = client, callback_url
        self._policy = OutboundPolicy(
            allow_http=self._config.insecure_allow_http, allow_private=self._config.allow_private_ip
        )
        self._exchange = CodeExchange(
            client, self._policy, self._config.client_id, client_secret, callback_url
        )
        self._discovery: dict[str, Any] | None = None
        self._jwks = JwksSource(
            client=client,
            policy=self._policy,
            issuer=self._config.issuer_url,
            jwks_url=None,
            refresh_min=60,
            refresh_max=3600,
            max_stale=86400,
            cooldown=30,
            metrics=metrics,
        )

    async def _document(self) -> dict[str, Any]:
        if self._discovery is None:
            try:
                document, _headers = await self._client.get_json(
                    discovery_urls(self._config.issuer_url)[0], self._policy
                )
            except OutboundError as exc:
                raise TemporarilyUnavailable("the identity provider cannot be reached") from exc
            if not isinstance(document, dict) or document.get("issuer") != self._config.issuer_url:
                raise TemporarilyUnavailable(
                    "the identity provider's discovery document names another issuer"
                )
            self._discovery = document
        return self._discovery

    async def authorization_url(self, state: str) -> tuple[str, dict[str, str]]:
        """Where to send the user, and what to remember for the callback."""
        document = await self._document()
        endpoint = document.get("authorization_endpoint")
        if not isinstance(endpoint, str):
            raise TemporarilyUnavailable("the identity provider has no authorization endpoint")
        verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
        scopes = " ".join(dict.fromkeys(("openid", *self._config.scopes)))
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self._config.client_id,
                "redirect_uri": self._callback,
                "scope": scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": s256(verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}", {"verifier": verifier, "nonce": nonce}

    async def complete(self, params: Mapping[str, str], remembered: Mapping[str, str]) -> UpstreamResult:
        """Finish the upstream leg from the callback's query parameters."""
        if "error" in params:
            raise AccessDenied("the identity provider did not authorize the login")
        # RFC 9207: when the provider says who it is, it must be the provider we sent the user to.
        if "iss" in params and params["iss"] != self._config.issuer_url:
            raise AccessDenied("the authorization response came from another issuer")
        document = await self._document()
        tokens = await self._exchange.redeem(
            str(document.get("token_endpoint")), params.get("code", ""), remembered.get("verifier", "")
        )
        if not isinstance(tokens.get("id_token"), str):
            raise AccessDenied("the identity provider sent no ID token")
        claims = await self._check_id_token(tokens["id_token"], remembered.get("nonce", ""))
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AccessDenied("the ID token has no subject")
        user = UserInfo(
            internal_user_id(self.name, subject),
            self.name,
            claims.get("email") if isinstance(claims.get("email"), str) else None,
            claims.get("name") if isinstance(claims.get("name"), str) else None,
        )
        expires_in = tokens.get("expires_in")
        upstream = UpstreamTokens(
            provider=self.name,
            access_token=str(tokens.get("access_token", "")),
            refresh_token=tokens.get("refresh_token")
            if isinstance(tokens.get("refresh_token"), str)
            else None,
            id_token=tokens["id_token"],
            expires_at=time.time() + expires_in if isinstance(expires_in, int | float) else None,
        )
        return UpstreamResult(user, upstream)

    async def _check_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """OIDC Core §3.1.3.7, with the same checks as access tokens."""
        try:
            parsed = access_token.parse(id_token, 16 * 1024)
            alg, kid = access_token.check_header(parsed.header, _ALGORITHMS)
            key = await self._jwks.key_for(kid)
            if key is None or not key.fits(alg):
                raise authn_errors.UnknownKey("the ID token's key is not known")
            access_token.verify_signature(id_token, key.key, alg)
            access_token.check_issuer(parsed.claims, self._config.issuer_url)
            access_token.check_audience(parsed.claims, frozenset({self._config.client_id}))
            access_token.check_times(parsed.claims, time.time(), 60, 86400)
        except authn_errors.AuthError as exc:
            raise AccessDenied(f"the ID token was refused: {exc.description}") from None
        if not secrets.compare_digest(str(parsed.claims.get("nonce", "")), nonce) or not nonce:
            raise AccessDenied("the ID token's nonce does not match the login")
        return parsed.claims
