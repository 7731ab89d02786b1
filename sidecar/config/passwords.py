# SPDX-License-Identifier: Apache-2.0
"""scrypt password hashes for the static upstream (RFC 7914 through OpenSSL, via hashlib).

Format: ``scrypt$<log2 N>$<r>$<p>$<salt, base64url>$<hash, base64url>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

_DEFAULT = (15, 8, 1)  # N = 2**15: about 50 ms and 32 MiB per check
_MAX_LOG_N = 20


class PasswordHashError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class PasswordHash:
    log_n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_password_hash(text: str) -> PasswordHash:
    parts = text.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise PasswordHashError("is not an scrypt hash (scrypt$N$r$p$salt$hash)")
    try:
        log_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, digest = _unb64(parts[4]), _unb64(parts[5])
    except ValueError:
        raise PasswordHashError("is not an scrypt hash (scrypt$N$r$p$salt$hash)") from None
    if not (
        10 <= log_n <= _MAX_LOG_N and 1 <= r <= 32 and 1 <= p <= 16 and len(salt) >= 16 and len(digest) >= 32
    ):
        raise PasswordHashError("has scrypt parameters outside the accepted bounds")
    return PasswordHash(log_n, r, p, salt, digest)


def _derive(password: str, log_n: int, r: int, p: int, salt: bytes) -> bytes:
    n = 1 << log_n
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + (1 << 20), dklen=32
    )


def hash_password(password: str, *, log_n: int = _DEFAULT[0]) -> str:
    """A new hash; ``log_n`` below the default only where speed matters more than cost (tests)."""
    _unused, r, p = _DEFAULT
    salt = secrets.token_bytes(16)
    return f"scrypt${log_n}${r}${p}${_b64(salt)}${_b64(_derive(password, log_n, r, p, salt))}"


def verify_password(password: str, stored: PasswordHash) -> bool:
    derived = _derive(password, stored.log_n, stored.r, stored.p, stored.salt)
    return hmac.compare_digest(derived, stored.digest)
