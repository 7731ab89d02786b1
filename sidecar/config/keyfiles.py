# SPDX-License-Identifier: Apache-2.0
"""The authorization server's key material, parsed and judged: PEM signing keys and HMAC
secrets. No I/O here; ``material.py`` reads the files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

MIN_RSA_BITS = 2048
MIN_HMAC_BYTES = 32
MIN_HMAC_DISTINCT_BYTES = 8
MAX_REPEATED_PATTERN = 16


class KeyFileError(Exception):
    """A key file is of an unsupported kind or too weak (names the file only, never its bytes)."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    private_key: Any = field(repr=False)  # a cryptography private key
    algorithm: str  # ES256 | RS256 | EdDSA


def signing_key_from_pem(data: bytes, source: str) -> SigningKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(
            f"{source} is not an unencrypted PEM private key ({exc.__class__.__name__})"
        ) from None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyFileError(f"{source} is an EC key on {key.curve.name}; use P-256 (ES256)")
        return SigningKey(key, "ES256")
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyFileError(
                f"{source} is an RSA key of {key.key_size} bits; at least {MIN_RSA_BITS} are needed"
            )
        return SigningKey(key, "RS256")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return SigningKey(key, "EdDSA")
    raise KeyFileError(f"{source} holds an unsupported key type; use EC P-256, RSA >= 2048 or Ed25519")


def hmac_secret_problem(secret: bytes) -> str | None:
    """Why ``secret`` is too weak to sign codes and refresh tokens, or None.

    Guessable bytes are judged without any claim to measure entropy: too short, too few distinct
    byte values (``aaaa…``, ``0101…``), or one short pattern repeated (``passwordpassword…``,
    ``0123456789abcdef0123…``). A random secret such as ``mcp-sidecar keygen --hmac`` writes, or
    ``openssl rand -hex 32``, never trips these.
    """
    if len(secret) < MIN_HMAC_BYTES:
        return f"holds {len(secret)} bytes; at least {MIN_HMAC_BYTES} are needed"
    distinct = len(set(secret))
    if distinct < MIN_HMAC_DISTINCT_BYTES:
        return f"has too few distinct bytes ({distinct}), so it is easy to guess"
    for period in range(1, MAX_REPEATED_PATTERN + 1):
        if secret[period:] == secret[:-period]:
            return f"repeats a pattern of {period} bytes, so it is easy to guess"
    return None
