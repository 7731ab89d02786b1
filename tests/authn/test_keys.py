# SPDX-License-Identifier: Apache-2.0
"""JWK Set parsing: which keys are used and which are skipped (attack checklist §2)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sidecar.authn.keys import VerificationKey, key_from_jwk, parse_jwks
from tests.authn.tokens import EC_KEY, ED_KEY, RSA_KEY, public_jwk


def test_usable_keys_by_kid() -> None:
    keys, skipped = parse_jwks(
        {"keys": [public_jwk(RSA_KEY, "r"), public_jwk(EC_KEY, "e"), public_jwk(ED_KEY, "o")]}
    )
    assert skipped == []
    assert {kid: keys.key_for(kid) is not None for kid in "reo"} == {"r": True, "e": True, "o": True}


WEAK_RSA = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the attack


@pytest.mark.parametrize(
    ("jwk", "reason"),
    [
        (public_jwk(RSA_KEY, "k", use="enc"), "not a signing key"),
        (public_jwk(WEAK_RSA, "k"), "shorter than 2048"),
        ({**public_jwk(RSA_KEY, "k"), "d": "AAAA"}, "private key material"),
        ({"kty": "oct", "k": "c2VjcmV0", "kid": "k"}, "unsupported key type"),
        ({"kty": "RSA", "kid": "k", "n": "!!", "e": "AQAB"}, "not a valid JWK"),
        ({"kty": "EC", "kid": "k", "crv": "P-256", "x": "AA", "y": "AA"}, "not a valid JWK"),
    ],
)
def test_unusable_keys_skipped(jwk: dict[str, Any], reason: str) -> None:
    result = key_from_jwk(jwk)
    assert isinstance(result, str)
    assert reason in result


def test_duplicated_kid_is_ambiguous_and_dropped() -> None:
    keys, skipped = parse_jwks(
        {"keys": [public_jwk(RSA_KEY, "same"), public_jwk(EC_KEY, "same"), public_jwk(ED_KEY, "other")]}
    )
    assert keys.key_for("same") is None
    assert keys.key_for("other") is not None
    assert any("more than once" in note for note in skipped)


@pytest.mark.parametrize("document", [None, [], {"keys": "x"}, {"no": "keys"}, "text"])
def test_not_a_jwk_set(document: object) -> None:
    with pytest.raises(ValueError, match="JWK Set"):
        parse_jwks(document)


@pytest.mark.parametrize(
    ("private", "alg", "fits"),
    [
        (RSA_KEY, "RS256", True),
        (RSA_KEY, "PS512", True),
        (RSA_KEY, "ES256", False),
        (RSA_KEY, "HS256", False),
        (EC_KEY, "ES256", True),
        (EC_KEY, "ES384", False),
        (EC_KEY, "RS256", False),
        (ec.generate_private_key(ec.SECP384R1()), "ES256", False),
        (ED_KEY, "EdDSA", True),
        (ED_KEY, "ES256", False),
    ],
)
def test_algorithm_must_fit_key_type_and_curve(private: Any, alg: str, fits: bool) -> None:
    key = key_from_jwk(public_jwk(private, "k"))
    assert isinstance(key, VerificationKey)
    assert key.fits(alg) is fits
