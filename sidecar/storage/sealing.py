# SPDX-License-Identifier: Apache-2.0
"""Encryption at rest for what a shared store keeps that could be used if read: the users'
upstream tokens, and the token pair a refresh was answered with (kept for the grace window).
AES-256-GCM under keys derived (HKDF-SHA256) from the HMAC secrets, so rotating
``auth_server.hmac_secret_files`` rotates these keys too: new values are sealed with the first
secret's key, and values sealed with any listed secret still open.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sidecar.storage.protocol import StorageError

_INFO = b"mcp-sidecar storage sealing v1"
_NONCE = 12


def _derive(secret: bytes) -> AESGCM:
    return AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret))


class Sealer:
    def __init__(self, secrets: Iterable[bytes]) -> None:
        self._keys = [_derive(secret) for secret in secrets]
        if not self._keys:
            raise ValueError("at least one secret is needed")

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        """``context`` (where the value is stored) is authenticated: a value moved to another
        key does not open."""
        nonce = os.urandom(_NONCE)
        return nonce + self._keys[0].encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        nonce, ciphertext = sealed[:_NONCE], sealed[_NONCE:]
        for key in self._keys:
            try:
                return key.decrypt(nonce, ciphertext, context)
            except (InvalidTag, ValueError):
                continue
        raise StorageError("a sealed value opens with none of the configured secrets")
