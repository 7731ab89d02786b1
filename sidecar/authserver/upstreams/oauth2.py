# SPDX-License-Identifier: Apache-2.0
"""The ``oauth2`` upstream: a plain OAuth 2.0 provider with explicit endpoints (no discovery,
no ID token). Who the user is comes from the userinfo endpoint, called with the access token."""

from __future__ import annotations

from collections.abc import Mapping

from sidecar.authserver.errors import AccessDenied
from sidecar.authserver.upstreams.protocol import UpstreamResult, internal_user_id
from sidecar.authserver.upstreams.redirect import RedirectUpstream
from sidecar.authserver.upstreams.token_endpoint import TokenResponse, upstream_tokens
from sidecar.config.auth_server import OAuth2Upstream
from sidecar.outbound import OutboundClient, OutboundError
from sidecar.storage.records import UserInfo


class OAuth2Provider(RedirectUpstream):
    def __init__(
        self, config: OAuth2Upstream, *, client: OutboundClient, client_secret: str | None, callback_url: str
    ) -> None:
        self._config = config.oauth2_config
        super().__init__(
            config.name, self._config, client=client, client_secret=client_secret, callback_url=callback_url
        )

    async def _authorization_endpoint(self) -> str:
        return self._config.authorization_endpoint

    async def _token_endpoint_url(self) -> str:
        return self._config.token_endpoint

    def _scope(self) -> str | None:
        return " ".join(self._config.scopes) if self._config.scopes else None

    async def _identify(self, response: TokenResponse, remembered: Mapping[str, str]) -> UpstreamResult:
        access = response.get("access_token")
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
        # An ID token a plain OAuth 2.0 provider may send is not checked, so it is not kept.
        return UpstreamResult(user, upstream_tokens(self.name, response, self._clock(), id_token=None))
