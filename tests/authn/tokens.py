# SPDX-License-Identifier: Apache-2.0
"""Keys and hand-built tokens for the pure validator tests (the attacker's toolbox)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.api_jws import PyJWS

from sidecar.authn.keys import VerificationKey, key_from_jwk
from sidecar.config.schema import OidcSettings

ISSUER = "https://idp.example.com"
AUDIENCE = "https://mcp.example.com/mcp"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
ED_KEY = ed25519.Ed25519PrivateKey.generate()
ATTACKER_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private_key: Any, kid: str, **extra: Any) -> dict[str, Any]:
    public = private_key.public_key()
    if isinstance(private_key, rsa.RSAPrivateKey):
        text = jwt.algorithms.RSAAlgorithm.to_jwk(public)
    elif isinstance(private_key, ec.EllipticCurvePrivateKey):
        text = jwt.algorithms.ECAlgorithm.to_jwk(public)
    else:
        text = jwt.algorithms.OKPAlgorithm.to_jwk(public)
    return {**json.loads(text), "kid": kid, **extra}


def verification_key(private_key: Any, kid: str, **extra: Any) -> VerificationKey:
    key = key_from_jwk(public_jwk(private_key, kid, **extra))
    assert isinstance(key, VerificationKey), key
    return key


def public_pem(private_key: Any) -> bytes:
    return bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": now,
        "exp": now + 300,
        "scope": "mcp:read mcp:write",
    }
    for key, value in overrides.items():
        if value is None:
            base.pop(key, None)
        else:
            base[key] = value
    return base


def sign(payload: dict[str, Any] | str, key: Any = RSA_KEY, alg: str = "RS256", **header: Any) -> str:
    """Sign any JSON payload (through the JWS layer, so claims of any type can be sent); a string
    is the payload's JSON text as is, for numbers no encoder writes (``1e400``)."""
    headers = {"kid": "rsa-1", **header}
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return PyJWS().encode(text.encode(), key, algorithm=alg, headers=headers)


def json_text(claims: dict[str, Any], **raw: str) -> str:
    """``claims`` as JSON text, with each of ``raw`` spliced in as a literal JSON value."""
    members = [
        f"{json.dumps(name)}: {json.dumps(value)}" for name, value in claims.items() if name not in raw
    ]
    members += [f"{json.dumps(name)}: {literal}" for name, literal in raw.items()]
    return "{" + ", ".join(members) + "}"


def hmac_sign(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    """HS256 by hand, for key-confusion tokens no library will make."""
    signing_input = f"{b64(json.dumps(header))}.{b64(json.dumps(payload))}"
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(digest)}"


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(header: dict[str, Any] | str, payload: dict[str, Any] | str, signature: str = "") -> str:
    """A token assembled by hand, no signing library involved."""
    h = header if isinstance(header, str) else json.dumps(header)
    p = payload if isinstance(payload, str) else json.dumps(payload)
    return f"{b64(h)}.{b64(p)}.{signature}"


def oidc_settings(**overrides: Any) -> OidcSettings:
    return OidcSettings(issuer=ISSUER, **overrides)
