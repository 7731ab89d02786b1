# SPDX-License-Identifier: Apache-2.0
"""The ``oidc`` upstream: OpenID Connect Core §3.1 authorization code flow; on top of the shared
redirect flow, discovery, a nonce of its own, and the ID token checked like an access token
(signature by the provider's JWKS, exact issuer, audience = our client id, times) plus its nonce."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from sidecar.authn import access_token
from sidecar.authn import errors as authn_errors
from sidecar.authn.jwks import JwksSource, discovery_urls
from sidecar.authserver.errors import AccessDenied, TemporarilyUnavailable
from sidecar.authserver.keys import same_text
from sidecar.authserver.upstreams.protocol import UpstreamResult, internal_user_id
from sidecar.authserver.upstreams.redirect import RedirectUpstream
from sidecar.authserver.upstreams.token_endpoint import TokenResponse, upstream_tokens
from sidecar.config.auth_server import OidcUpstream
from sidecar.config.schema import SUPPORTED_ALGORITHMS
from sidecar.observability.metrics import Metrics
from sidecar.outbound import OutboundClient, OutboundError
from sidecar.storage.records import UserInfo

_ALGORITHMS = frozenset(SUPPORTED_ALGORITHMS)


class OidcProvider(RedirectUpstream):
    def __init__(
        self,
        config: OidcUpstream,
        *,
        client: OutboundClient,
        client_secret: str | None,
        callback_url: str,
        metrics: Metrics,
    ) -> None:
        self._config = config.oidc_config
        super().__init__(
            config.name, self._config, client=client, client_secret=client_secret, callback_url=callback_url
        )
        self.issuer = self._config.issuer_url
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

    async def _authorization_endpoint(self) -> str:
        endpoint = (await self._document()).get("authorization_endpoint")
        if not isinstance(endpoint, str):
            raise TemporarilyUnavailable("the identity provider has no authorization endpoint")
        return endpoint

    async def _token_endpoint_url(self) -> str:
        return str((await self._document()).get("token_endpoint"))

    def _scope(self) -> str:
        return " ".join(dict.fromkeys(("openid", *self._config.scopes)))

    def _request_extras(self) -> dict[str, str]:
        return {"nonce": secrets.token_urlsafe(24)}

    async def _identify(self, response: TokenResponse, remembered: Mapping[str, str]) -> UpstreamResult:
        id_token = response.get("id_token")
        if not isinstance(id_token, str):
            raise AccessDenied("the identity provider sent no ID token")
        claims = await self._check_id_token(id_token, remembered.get("nonce", ""))
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise AccessDenied("the ID token has no subject")
        email, name = claims.get("email"), claims.get("name")
        user = UserInfo(
            internal_user_id(self.name, subject),
            self.name,
            email if isinstance(email, str) else None,
            name if isinstance(name, str) else None,
        )
        return UpstreamResult(user, upstream_tokens(self.name, response, self._clock(), id_token=id_token))

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
            access_token.check_times(parsed.claims, self._clock(), 60, 86400)
        except authn_errors.AuthError as exc:
            raise AccessDenied(f"the ID token was refused: {exc.description}") from None
        if not same_text(nonce, str(parsed.claims.get("nonce", ""))) or not nonce:
            raise AccessDenied("the ID token's nonce does not match the login")
        return parsed.claims
