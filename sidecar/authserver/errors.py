# SPDX-License-Identifier: Apache-2.0
"""OAuth errors that render themselves to their wire shape, and the start-up error.

AuthServerError                the authorization server cannot be created; start-up stops

OAuthError                     RFC 6749 §5.2 / §4.1.2.1 error code + description
  ├─ InvalidRequest            400 invalid_request
  ├─ InvalidClient             401 invalid_client (with WWW-Authenticate for Basic)
  ├─ InvalidGrant              400 invalid_grant
  ├─ UnauthorizedClient        400 unauthorized_client
  ├─ UnsupportedGrantType      400 unsupported_grant_type
  ├─ UnsupportedResponseType   400 unsupported_response_type
  ├─ InvalidScope              400 invalid_scope
  ├─ InvalidTarget             400 invalid_target (RFC 8707 §2)
  ├─ AccessDenied              403 access_denied
  ├─ InvalidToken              401 invalid_token (RFC 6750 §3.1; the initial access token)
  ├─ InvalidRedirectUri        400 invalid_redirect_uri (RFC 7591 §3.2.2)
  ├─ InvalidClientMetadata     400 invalid_client_metadata (RFC 7591 §3.2.2)
  ├─ ClientDocumentRefused     400 invalid_client: a client ID metadata document broke a rule
  ├─ TooManyRequests           429 slow_down-style throttle (registration)
  └─ TemporarilyUnavailable    503 temporarily_unavailable (with Retry-After)
       └─ StorageUnavailable   503, the store does not answer
"""

from __future__ import annotations

from typing import ClassVar


class AuthServerError(Exception):
    """The authorization server cannot be created; start-up stops (never a fall-back to Mode A).
    The message names the key path."""


class OAuthError(Exception):
    error: ClassVar[str] = "invalid_request"
    status: ClassVar[int] = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class UnsupportedResponseType(OAuthError):
    error = "unsupported_response_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    error = "invalid_target"


class AccessDenied(OAuthError):
    error = "access_denied"
    status = 403


class InvalidToken(OAuthError):
    """RFC 6750 §3.1, for RFC 7591 §3's initial access token: rendered with a Bearer challenge."""

    error = "invalid_token"
    status = 401


class InvalidRedirectUri(OAuthError):
    error = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    error = "invalid_client_metadata"


class ClientDocumentRefused(OAuthError):
    """A client ID metadata document (CIMD) that cannot be used; the message names the rule.
    Shown on the error page, never sent to a redirect URI the document was to vouch for."""

    error = "invalid_client"


class TooManyRequests(OAuthError):
    error = "too_many_requests"
    status = 429


class RequestTimeout(OAuthError):
    error = "invalid_request"
    status = 408


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503

    def __init__(self, description: str, retry_after: int = 60) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class StorageUnavailable(TemporarilyUnavailable):
    """The store does not answer: the client may retry soon."""

    def __init__(self) -> None:
        super().__init__("storage is unavailable; try again shortly", retry_after=5)
