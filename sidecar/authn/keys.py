# SPDX-License-Identifier: Apache-2.0
"""Verification keys: the in-process key provider seam, JWK Set parsing (RFC 7517) and the rule
that an algorithm must fit its key (RFC 8725 §3.1, key-confusion attacks)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

MIN_RSA_BITS = 2048
_CURVE_FOR_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


@dataclass(frozen=True, slots=True)
class VerificationKey:
    kid: str | None
    kty: str  # RSA | EC | OKP
    crv: str | None
    alg: str | None  # the JWK's own "alg", when it names one
    key: Any  # a cryptography public key object

    def fits(self, alg: str) -> bool:
        """True when ``alg`` may be verified with this key (never HMAC with a public key)."""
        if self.alg is not None and self.alg != alg:
            return False
        if alg.startswith(("RS", "PS")):
            return self.kty == "RSA"
        if alg in _CURVE_FOR_ALG:
            return self.kty == "EC" and self.crv == _CURVE_FOR_ALG[alg]
        if alg == "EdDSA":
            return self.kty == "OKP" and self.crv in ("Ed25519", "Ed448")
        return False


class KeyProvider(Protocol):
    """In-process keys (the embedded authorization server's), consulted before any HTTP."""

    def key_for(self, kid: str | None) -> VerificationKey | None: ...


class StaticKeyProvider:
    """A fixed set of keys by ``kid``; with one key, a token without ``kid`` uses it."""

    def __init__(self, keys: Iterable[VerificationKey]) -> None:
        self._keys = {key.kid: key for key in keys}

    def key_for(self, kid: str | None) -> VerificationKey | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def __len__(self) -> int:
        return len(self._keys)


def key_from_jwk(jwk: Mapping[str, Any]) -> VerificationKey | str:
    """A usable verification key, or the reason the JWK is skipped."""
    if jwk.get("use") not in (None, "sig"):
        return "not a signing key"
    if "d" in jwk:
        return "carries private key material"
    kty = jwk.get("kty")
    if kty not in ("RSA", "EC", "OKP"):
        return "unsupported key type"
    try:
        key = jwt.PyJWK(dict(jwk)).key
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return "not a valid JWK"
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return f"RSA key shorter than {MIN_RSA_BITS} bits"
    kid, alg, crv = jwk.get("kid"), jwk.get("alg"), jwk.get("crv")
    return VerificationKey(
        kid=kid if isinstance(kid, str) else None,
        kty=kty,
        crv=crv if isinstance(crv, str) else None,
        alg=alg if isinstance(alg, str) else None,
        key=key,
    )


def parse_jwks(document: object) -> tuple[StaticKeyProvider, list[str]]:
    """The usable keys of a JWK Set, and a note for every key skipped.

    A ``kid`` that appears twice is ambiguous, so neither copy is used.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set (no keys list)")
    keys: dict[str | None, VerificationKey] = {}
    duplicates: set[str | None] = set()
    skipped: list[str] = []
    for index, jwk in enumerate(document["keys"]):
        result = key_from_jwk(jwk) if isinstance(jwk, dict) else "not an object"
        if isinstance(result, str):
            skipped.append(f"key {index}: {result}")
            continue
        if result.kid in keys:
            duplicates.add(result.kid)
        keys[result.kid] = result
    for kid in duplicates:
        skipped.append(f"kid {kid!r}: appears more than once")
        del keys[kid]
    return StaticKeyProvider(keys.values()), skipped
