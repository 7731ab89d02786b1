# SPDX-License-Identifier: Apache-2.0
"""OpenID Connect: the ID token of the code flow, verified the way a relying party does (the
published JWK Set, PyJWT), and UserInfo, over real HTTP on a running sidecar."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given
from hypothesis import strategies as st

from sidecar.authserver import oidc
from sidecar.authserver.keys import SigningKeys
from sidecar.config.keyfiles import SigningKey
from sidecar.storage.records import UserInfo
from tests.authserver.flow import RawClient, mode_b_settings, running

OPENID_SCOPES = "openid email profile"
ALICE = UserInfo("user-1", "local", email="alice@example.com", name="Alice")


@pytest.fixture
async def raw(mcp_server: str) -> AsyncIterator[RawClient]:
    async with running(mode_b_settings(mcp_server)) as client:
        yield client


async def _json(raw: RawClient, path: str) -> dict[str, Any]:
    async with raw.http.get(f"{raw.base}{path}") as resp:
        assert resp.status == 200
        return dict(await resp.json())


async def _verified_id_token(raw: RawClient, client_id: str, token: str) -> dict[str, Any]:
    """The ID token's claims, checked as a relying party does: discovery, JWKS, aud, iss."""
    discovery = await _json(raw, "/.well-known/openid-configuration")
    async with raw.http.get(discovery["jwks_uri"]) as resp:
        jwks = jwt.PyJWKSet.from_dict(await resp.json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    return dict(
        jwt.decode(
            token,
            key,
            algorithms=discovery["id_token_signing_alg_values_supported"],
            audience=client_id,
            issuer=discovery["issuer"],
            options={"require": ["exp", "iat", "sub", "auth_time", "at_hash"]},
        )
    )


def _sha256_at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


async def test_id_token_verifies_with_the_published_jwks_and_carries_nonce_and_at_hash(
    raw: RawClient,
) -> None:
    """OIDC Core §3.1.3.3: with openid granted, the token response has an ID token for the client."""
    client_id, tokens = await raw.sign_in(scope=OPENID_SCOPES, nonce="n-0S6_WzA2Mj")
    claims = await _verified_id_token(raw, client_id, tokens["id_token"])
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["at_hash"] == _sha256_at_hash(tokens["access_token"])  # the default key is ES256
    assert claims["sub"] == access["sub"]
    assert claims["auth_time"] <= claims["iat"] < claims["exp"]
    assert (claims["email"], claims["name"]) == ("alice@example.com", "Alice")
    assert jwt.get_unverified_header(tokens["id_token"])["typ"] == "JWT"


async def test_id_token_without_nonce_has_none_and_scopes_limit_its_claims(raw: RawClient) -> None:
    client_id, tokens = await raw.sign_in(scope="openid")
    claims = await _verified_id_token(raw, client_id, tokens["id_token"])
    assert "nonce" not in claims
    assert "email" not in claims
    assert "name" not in claims


async def test_no_id_token_without_openid(raw: RawClient) -> None:
    _client_id, tokens = await raw.sign_in(scope="email")
    assert "id_token" not in tokens


async def test_nonce_too_long_is_refused(raw: RawClient) -> None:
    resp = await raw.authorize(
        raw.authorize_url(await raw.public_client(), "x" * 43, scope="openid", nonce="n" * 513)
    )
    assert resp.status == 302
    assert "error=invalid_request" in resp.headers["Location"]


async def test_userinfo_answers_the_claims_of_a_valid_access_token(raw: RawClient) -> None:
    """OIDC Core §5.3: sub always, email and name as the scopes allow."""
    _client_id, tokens = await raw.sign_in(scope=OPENID_SCOPES)
    for method in ("GET", "POST"):
        async with raw.http.request(
            method,
            f"{raw.base}/oauth/userinfo",
            headers={"Authorization": f"Bearer {tokens['access_token']}"},
        ) as resp:
            assert resp.status == 200
            assert resp.headers["Cache-Control"] == "no-store"
            body = await resp.json()
    access = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert body == {"sub": access["sub"], "email": "alice@example.com", "name": "Alice"}


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, 'Bearer realm="mcp-sidecar"'),
        ("Basic YWxpY2U6eA==", 'Bearer realm="mcp-sidecar"'),
        ("Bearer not-a-token", 'Bearer realm="mcp-sidecar", error="invalid_token"'),
    ],
)
async def test_userinfo_without_a_valid_token_is_401_with_a_challenge(
    raw: RawClient, authorization: str | None, challenge: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with raw.http.get(f"{raw.base}/oauth/userinfo", headers=headers) as resp:
        assert resp.status == 401
        assert resp.headers["WWW-Authenticate"] == challenge


async def test_id_token_substituted_for_access_token_at_userinfo_refused(raw: RawClient) -> None:
    """RFC 9068 §4: the ID token (typ JWT, aud the client) is not an access token."""
    _client_id, tokens = await raw.sign_in(scope=OPENID_SCOPES)
    async with raw.http.get(
        f"{raw.base}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['id_token']}"}
    ) as resp:
        assert resp.status == 401


async def test_userinfo_refuses_a_revoked_session(raw: RawClient) -> None:
    client_id, tokens = await raw.sign_in(scope=OPENID_SCOPES)
    assert await raw.revoke(client_id, tokens["refresh_token"]) == 200
    async with raw.http.get(
        f"{raw.base}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ) as resp:
        assert resp.status == 401


async def test_userinfo_without_openid_scope_is_403(raw: RawClient) -> None:
    _client_id, tokens = await raw.sign_in(scope="email")
    async with raw.http.get(
        f"{raw.base}/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    ) as resp:
        assert resp.status == 403
        assert 'error="insufficient_scope"' in resp.headers["WWW-Authenticate"]


async def test_discovery_advertises_what_is_implemented(raw: RawClient) -> None:
    discovery = await _json(raw, "/.well-known/openid-configuration")
    assert discovery["userinfo_endpoint"] == f"{raw.base}/oauth/userinfo"
    assert discovery["id_token_signing_alg_values_supported"] == ["ES256"]
    assert set(discovery["claims_supported"]) >= {"sub", "nonce", "at_hash", "auth_time"}
    assert discovery["response_types_supported"] == ["code"]


@pytest.mark.parametrize(
    ("key", "hash_name"),
    [
        (SigningKey(ec.generate_private_key(ec.SECP256R1()), "ES256"), "sha256"),
        (SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"), "sha256"),
        (SigningKey(ed25519.Ed25519PrivateKey.generate(), "EdDSA"), "sha512"),
    ],
)
def test_id_token_of_each_key_type_verifies_and_hashes_with_its_algorithm(
    key: SigningKey, hash_name: str
) -> None:
    """OIDC Core §3.1.3.6: at_hash is the left half of the hash the ID token's alg uses."""
    keys = SigningKeys(key)
    token = _id_token(keys, access_token="at-123", nonce=None)
    jwk = jwt.PyJWK.from_dict(keys.jwks()["keys"][0])
    claims = jwt.decode(
        token,
        jwk,
        algorithms=[key.algorithm],
        audience="c1",
        issuer="https://as.example",
        options={"verify_exp": False, "verify_iat": False},
    )
    digest = hashlib.new(hash_name, b"at-123").digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode()


@given(nonce=st.text(max_size=oidc.MAX_NONCE_LENGTH))
def test_any_nonce_comes_back_unmodified(nonce: str) -> None:
    """OIDC Core §3.1.3.7 step 11: the client compares the nonce byte for byte."""
    token = _id_token(_KEYS, access_token="at", nonce=nonce)
    assert jwt.decode(token, options={"verify_signature": False})["nonce"] == nonce


def _id_token(keys: SigningKeys, *, access_token: str, nonce: str | None) -> str:
    return oidc.id_token(
        keys,
        issuer="https://as.example",
        client_id="c1",
        user=ALICE,
        scopes=("openid",),
        access_token=access_token,
        nonce=nonce,
        auth_time=1_800_000_000,
        now=1_800_000_010,
        lifespan=300,
    )


_KEYS = SigningKeys(SigningKey(ec.generate_private_key(ec.SECP256R1()), "ES256"))
