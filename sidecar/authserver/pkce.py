# SPDX-License-Identifier: Apache-2.0
"""RFC 7636 Proof Key for Code Exchange, S256 only (OAuth 2.1 §4.1.1, RFC 9700 §2.1.1)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from sidecar.authserver.errors import InvalidGrant, InvalidRequest

# RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of 32 bytes, unpadded


def check_challenge(challenge: str | None, method: str | None) -> str:
    """The challenge of an authorization request; ``plain`` and a missing method are refused
    (RFC 7636 §4.3 would default to plain, which is the downgrade RFC 9700 forbids)."""
    if not challenge:
        raise InvalidRequest("code_challenge is required (PKCE)")
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256")
    if not _CHALLENGE.match(challenge):
        raise InvalidRequest("code_challenge is not a base64url SHA-256 value")
    return challenge


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def verify(verifier: str | None, challenge: str) -> None:
    """RFC 7636 §4.6, compared in constant time."""
    if not verifier or not _VERIFIER.match(verifier):
        raise InvalidGrant("code_verifier is missing or malformed")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
