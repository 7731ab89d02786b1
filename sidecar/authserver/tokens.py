# SPDX-License-Identifier: Apache-2.0
"""RFC 9068 JWT access tokens minted by the authorization server."""

from __future__ import annotations

import secrets
from typing import Any

from sidecar.authserver.keys import SigningKeys
from sidecar.storage.records import UserInfo


def access_token_claims(
    *,
    issuer: str,
    user: UserInfo,
    client_id: str,
    scopes: tuple[str, ...],
    resource: str,
    session_id: str,
    now: float,
    lifespan: float,
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user.user_id,  # the stable internal id, never the upstream's subject
        "aud": resource,  # RFC 8707: bound to the one resource it was requested for
        "exp": int(now + lifespan),
        "iat": int(now),
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "scope": " ".join(scopes),
        "tsid": session_id,  # links to the session's stored upstream tokens and revocation state
    }
    if "email" in scopes and user.email:
        claims["email"] = user.email
    if "profile" in scopes and user.name:
        claims["name"] = user.name
    return claims


def mint_access_token(keys: SigningKeys, claims: dict[str, Any]) -> str:
    return keys.sign(claims, typ="at+jwt")
