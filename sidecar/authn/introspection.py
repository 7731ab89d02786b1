# SPDX-License-Identifier: Apache-2.0
"""RFC 7662 token introspection for opaque access tokens."""

from __future__ import annotations

from typing import Any

import structlog

from sidecar.authn import errors
from sidecar.outbound import OutboundClient, OutboundError, OutboundPolicy, client_secret_basic

log = structlog.get_logger("sidecar.introspection")


class Introspector:
    def __init__(
        self, *, client: OutboundClient, policy: OutboundPolicy, url: str, client_id: str, client_secret: str
    ) -> None:
        self._client, self._policy, self._url = client, policy, url
        # RFC 7662 §2.1: the protected resource authenticates itself, here with client_secret_basic
        # (RFC 6749 §2.3.1: both parts form-urlencoded before the Basic encoding).
        self._authorization = client_secret_basic(client_id, client_secret)

    async def introspect(self, token: str) -> dict[str, Any]:
        """The claims of an active token; Inactive otherwise; KeysUnavailable on failure."""
        form = {"token": token, "token_type_hint": "access_token"}
        try:
            response = await self._client.post_form(self._url, self._policy, form, self._authorization)
        except OutboundError as exc:
            log.warning("introspection_failed", error=str(exc))
            raise errors.KeysUnavailable("the token cannot be introspected right now") from exc
        # RFC 7662 §2.2: "active" is REQUIRED; anything but true means the token is not usable.
        if not isinstance(response, dict) or response.get("active") is not True:
            raise errors.Inactive("the token is not active")
        return response
