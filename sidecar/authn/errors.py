# SPDX-License-Identifier: Apache-2.0
"""Why a request was not authenticated, each rendering itself to its wire shape.

AuthError                        (status, OAuth error code, description) + challenge flag
  ├─ InvalidRequest              400 invalid_request (RFC 6750 §3.1): token in the query,
  │                              several Authorization headers, a malformed header
  ├─ MissingToken                401, bare challenge (RFC 6750 §3.1: no error code)
  ├─ TokenRejected               401 invalid_token; ``reason`` is the metric label
  ├─ InsufficientScope           403 insufficient_scope with every scope needed
  └─ KeysUnavailable             503 + Retry-After: the token may be good, but the keys or
                                 the introspection endpoint cannot be reached now
"""

from __future__ import annotations


class AuthError(Exception):
    status = 401
    error: str | None = None

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidRequest(AuthError):
    status = 400
    error = "invalid_request"


class MissingToken(AuthError):
    status = 401
    error = None


class TokenRejected(AuthError):
    status = 401
    error = "invalid_token"
    reason = "invalid"


class TooLarge(TokenRejected):
    reason = "too_large"


class Malformed(TokenRejected):
    reason = "malformed"


class AlgorithmNotAllowed(TokenRejected):
    reason = "algorithm"


class CriticalHeader(TokenRejected):
    reason = "crit"


class WrongTokenType(TokenRejected):
    reason = "typ"


class UnknownKey(TokenRejected):
    reason = "unknown_kid"


class KeyMismatch(TokenRejected):
    reason = "key_mismatch"


class BadSignature(TokenRejected):
    reason = "signature"


class WrongIssuer(TokenRejected):
    reason = "issuer"


class WrongAudience(TokenRejected):
    reason = "audience"


class Expired(TokenRejected):
    reason = "expired"


class NotYetValid(TokenRejected):
    reason = "not_yet_valid"


class IssuedInFuture(TokenRejected):
    reason = "iat_future"


class LifetimeTooLong(TokenRejected):
    reason = "lifetime"


class Inactive(TokenRejected):
    reason = "inactive"


class Revoked(TokenRejected):
    reason = "revoked"


class InsufficientScope(AuthError):
    status = 403
    error = "insufficient_scope"

    def __init__(self, description: str, needed: tuple[str, ...]) -> None:
        super().__init__(description)
        self.needed = needed


class KeysUnavailable(AuthError):
    status = 503
    error = "temporarily_unavailable"

    def __init__(self, description: str, retry_after: int = 5) -> None:
        super().__init__(description)
        self.retry_after = retry_after
