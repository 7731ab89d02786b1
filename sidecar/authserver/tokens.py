# SPDX-License-Identifier: Apache-2.0
"""RFC 9068 JWT access tokens minted by the authorization server."""

from __future__ import annotations

import secrets
from typing import Any

import jwt

from sidecar.authserver.keys import SigningKeys
from sidecar.authserver.oidc import user_claims
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
    return {**claims, **user_claims(user, scopes)}


def mint_access_token(keys: SigningKeys, claims: dict[str, Any]) -> str:
    return keys.sign(claims, typ="at+jwt")


def verify_own_access_token(keys: SigningKeys, issuer: str, token: str) -> dict[str, Any] | None:
    """The claims of an unexpired access token this server minted, else None: its key (by
    ``kid``), its signature, ``iss`` and ``typ`` (RFC 9068 §4: an ID token is not an access
    token). The audience is the caller's to check."""
    try:
        header = jwt.get_unverified_header(token)
        key = keys.key_for(header.get("kid"))
        if key is None or header.get("typ") != "at+jwt":
            return None
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[header["alg"]],
            options={"verify_aud": False, "require": ["exp", "sub"]},
            issuer=issuer,
        )
    except (jwt.PyJWTError, KeyError, TypeError):
        return None
    return claims
