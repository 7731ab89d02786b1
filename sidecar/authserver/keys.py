# SPDX-License-Identifier: Apache-2.0
"""The authorization server's key material.

- :class:`SigningKeys`: the current signing key and the fallback keys, each with ``kid`` = its
  RFC 7638 thumbprint; publishes the JWK Set and is the token validator's in-process key
  provider, so tokens issued here validate without any HTTP request.
- :class:`OpaqueTokens`: codes and refresh tokens are ``<id>.<HMAC(id)>``; storage is keyed by
  the id, and a token whose MAC does not verify under any configured secret is refused before
  storage is asked (the first secret signs; older ones still verify during rotation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric import ec

from sidecar.authn.keys import StaticKeyProvider, VerificationKey, key_from_jwk
from sidecar.config.keyfiles import SigningKey

log = structlog.get_logger("sidecar.authserver.keys")


# RFC 7638 §3.2: the required members of each key type, in lexicographic order.
_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: SigningKey) -> dict[str, Any]:
    public = key.private_key.public_key()
    if key.algorithm == "ES256":
        text = jwt.algorithms.ECAlgorithm.to_jwk(public)
    elif key.algorithm == "RS256":
        text = jwt.algorithms.RSAAlgorithm.to_jwk(public)
    else:
        text = jwt.algorithms.OKPAlgorithm.to_jwk(public)
    jwk: dict[str, Any] = json.loads(text)
    jwk.pop("d", None)
    return jwk


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256), base64url."""
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return _b64(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True, slots=True)
class _Published:
    key: SigningKey
    kid: str
    jwk: dict[str, Any]


def _publish(key: SigningKey) -> _Published:
    jwk = public_jwk(key)
    kid = thumbprint(jwk)
    return _Published(key, kid, {**jwk, "kid": kid, "alg": key.algorithm, "use": "sig"})


def ephemeral_signing_key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP256R1()), "ES256")


class SigningKeys:
    """Current key first, then the fallbacks; implements the validator's KeyProvider."""

    def __init__(self, current: SigningKey, fallbacks: Iterable[SigningKey] = ()) -> None:
        self._current = _publish(current)
        published = [self._current, *(_publish(key) for key in fallbacks)]
        self._jwks = {"keys": [p.jwk for p in published]}
        verification: list[VerificationKey] = []
        for p in published:
            parsed = key_from_jwk(p.jwk)
            assert isinstance(parsed, VerificationKey)  # noqa: S101 - our own, well-formed JWK
            verification.append(parsed)
        self._provider = StaticKeyProvider(verification)

    @property
    def kid(self) -> str:
        return self._current.kid

    @property
    def algorithm(self) -> str:
        """The JWS algorithm of the current key (RS256, ES256 or EdDSA)."""
        return self._current.key.algorithm

    def jwks(self) -> dict[str, Any]:
        return self._jwks

    def key_for(self, kid: str | None) -> VerificationKey | None:
        # A token without kid is not one of ours: every token minted here carries one.
        return self._provider.key_for(kid) if kid is not None else None

    def sign(self, claims: Mapping[str, Any], *, typ: str = "at+jwt") -> str:
        key = self._current
        return jwt.encode(
            dict(claims),
            key.key.private_key,
            algorithm=key.key.algorithm,
            headers={"kid": key.kid, "typ": typ},
        )


class OpaqueTokens:
    """Random ids with an HMAC, so forged or guessed values never reach storage."""

    def __init__(self, secrets_: Iterable[bytes]) -> None:
        self._secrets = tuple(secrets_)
        if not self._secrets:
            raise ValueError("at least one HMAC secret is needed")

    def _mac(self, secret: bytes, token_id: str) -> str:
        return _b64(hmac.new(secret, token_id.encode(), hashlib.sha256).digest())

    @property
    def secrets(self) -> tuple[bytes, ...]:
        """The HMAC secrets, the current one first (storage derives its sealing keys from them)."""
        return self._secrets

    def mint(self) -> tuple[str, str]:
        """A new ``(token, id)``."""
        token_id = secrets.token_urlsafe(24)
        return f"{token_id}.{self._mac(self._secrets[0], token_id)}", token_id

    def tag(self, purpose: str, value: str) -> str:
        """A MAC of ``value`` for ``purpose`` (e.g. the consent form's CSRF token)."""
        return self._mac(self._secrets[0], f"{purpose}\0{value}")

    def check_tag(self, purpose: str, value: str, presented: str) -> bool:
        """Whether ``presented`` is the tag of ``value`` under any configured secret."""
        valid = False
        for secret in self._secrets:
            valid |= same_text(self._mac(secret, f"{purpose}\0{value}"), presented)
        return valid

    def verify(self, token: str) -> str | None:
        """The id of a token signed by any configured secret, else None (constant-time compares)."""
        token_id, _, mac = token.partition(".")
        if not token_id or not mac or len(token) > 200:
            return None
        valid = False
        for secret in self._secrets:
            valid |= same_text(self._mac(secret, token_id), mac)
        return token_id if valid else None


def same_text(expected: str, presented: str) -> bool:
    """A constant-time comparison of two strings, whatever characters ``presented`` holds.

    SECURITY: ``hmac.compare_digest`` raises TypeError on non-ASCII ``str`` arguments, which a
    client controls (a token, a cookie, a form field): compare their UTF-8 bytes instead (lone
    surrogates, as aiohttp decodes undecodable header bytes, pass through unchanged).
    """
    return hmac.compare_digest(
        expected.encode("utf-8", "surrogatepass"), presented.encode("utf-8", "surrogatepass")
    )


def ephemeral_hmac_secret() -> bytes:
    return secrets.token_bytes(32)
