# SPDX-License-Identifier: Apache-2.0
"""OpenID Connect Core 1.0, the parts this server implements: the ID token of the
authorization code flow (§2, §3.1.3.6) and the UserInfo response (§5.3). Pure functions; the
token endpoint and the userinfo handler call them.

Not implemented (and not advertised): ID tokens on refresh (§12.2 makes them optional),
``prompt``/``max_age``/``claims`` request parameters, pairwise subjects, signed or encrypted
UserInfo responses.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from sidecar.authserver.keys import SigningKeys
from sidecar.storage.records import UserInfo

OPENID = "openid"
MAX_NONCE_LENGTH = 512
# What the ID token and UserInfo may carry (discovery's claims_supported, §3 of Discovery).
CLAIMS_SUPPORTED = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "email", "name")

# §3.1.3.6: at_hash uses the hash of the ID token's alg; EdDSA over Ed25519 hashes with SHA-512.
_AT_HASH = {"RS256": hashlib.sha256, "ES256": hashlib.sha256, "EdDSA": hashlib.sha512}


def user_claims(user: UserInfo, scopes: tuple[str, ...] | frozenset[str]) -> dict[str, str]:
    """§5.4: ``email`` with the email scope, ``name`` with profile, when the upstream said them."""
    claims: dict[str, str] = {}
    if "email" in scopes and user.email:
        claims["email"] = user.email
    if "profile" in scopes and user.name:
        claims["name"] = user.name
    return claims


def at_hash(access_token: str, algorithm: str) -> str:
    """§3.1.3.6: the left half of the hash of the access token's ASCII octets, base64url."""
    digest = _AT_HASH[algorithm](access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


def id_token(
    keys: SigningKeys,
    *,
    issuer: str,
    client_id: str,
    user: UserInfo,
    scopes: tuple[str, ...],
    access_token: str,
    nonce: str | None,
    auth_time: float,
    now: float,
    lifespan: float,
) -> str:
    """§2: the ID token for ``client_id`` (its only audience), signed with the current key."""
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": user.user_id,  # the same subject as the access token and UserInfo (§5.3.2)
        "aud": client_id,
        "exp": int(now + lifespan),
        "iat": int(now),
        "auth_time": int(auth_time),
        "at_hash": at_hash(access_token, keys.algorithm),
        **user_claims(user, scopes),
    }
    if nonce is not None:
        # §3.1.2.1 / §3.1.3.7: echoed unmodified, so the client can tie the token to its request.
        claims["nonce"] = nonce
    return keys.sign(claims, typ="JWT")


def userinfo(access_claims: Mapping[str, Any]) -> dict[str, Any]:
    """§5.3.2: ``sub`` always, then the user claims the access token's scopes let it carry
    (the token was minted with :func:`user_claims`, so the two answers agree)."""
    return {name: access_claims[name] for name in ("sub", "email", "name") if name in access_claims}
