# SPDX-License-Identifier: Apache-2.0
"""Reading the authorization server's key material: PEM signing keys and HMAC secrets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

MIN_RSA_BITS = 2048
MIN_HMAC_BYTES = 32


class KeyFileError(Exception):
    """A key file is missing, unreadable, of an unsupported kind or too weak (names the file only)."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    private_key: Any  # a cryptography private key
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


def load_signing_key(path: str) -> SigningKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path!r}: {exc.strerror}") from None
    return signing_key_from_pem(data, f"key file {path!r}")


def load_hmac_secret(path: str) -> bytes:
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as exc:
        raise KeyFileError(f"cannot read HMAC secret file {path!r}: {exc.strerror}") from None
    if len(secret) < MIN_HMAC_BYTES:
        raise KeyFileError(
            f"HMAC secret file {path!r} holds {len(secret)} bytes; at least {MIN_HMAC_BYTES} are needed"
        )
    return secret
