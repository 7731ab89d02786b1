# SPDX-License-Identifier: Apache-2.0
"""The authorization request (OAuth 2.1 §4.1.1, RFC 8707, RFC 9207), as pure checks.

Two phases, because errors are delivered differently (OAuth 2.1 §4.1.2.1, RFC 9700 §4.11):
until the client and its redirect URI are known to be good, an error is shown to the user as a
page and never redirected (no open redirector); after that, errors go back to the client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from yarl import URL

from sidecar.authserver import pkce
from sidecar.authserver.errors import (
    InvalidRequest,
    InvalidScope,
    InvalidTarget,
    OAuthError,
    UnsupportedResponseType,
)
from sidecar.authserver.oidc import MAX_NONCE_LENGTH
from sidecar.authserver.redirect_uris import matches
from sidecar.storage.records import Client

MAX_STATE_LENGTH = 1024
# RFC 6749 §3.1: request parameters MUST NOT be included more than once.
_SINGLE = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
)


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    state: str | None
    code_challenge: str
    scopes: tuple[str, ...]
    resource: str
    nonce: str | None = None  # OpenID Connect Core §3.1.2.1


class RedirectableError(Exception):
    """An error to send back to the client's (validated) redirect URI."""

    def __init__(self, error: OAuthError, redirect_uri: str, state: str | None, issuer: str) -> None:
        super().__init__(error.description)
        self.error, self.redirect_uri, self.state, self.issuer = error, redirect_uri, state, issuer

    def location(self) -> str:
        return redirect_with(
            self.redirect_uri,
            {
                "error": self.error.error,
                "error_description": self.error.description,
                "state": self.state,
                "iss": self.issuer,
            },
        )


def redirect_with(redirect_uri: str, params: Mapping[str, str | None]) -> str:
    """``redirect_uri`` with ``params`` added to its query, which is kept (RFC 6749 §3.1.2),
    written by the URL library the ``Location`` header is built with, so it is sent as returned."""
    return str(URL(redirect_uri).extend_query({k: v for k, v in params.items() if v is not None}))


def check_redirect_target(params: Mapping[str, Sequence[str]], client: Client | None) -> str:
    """The redirect URI to use; InvalidRequest (shown as a page) when it cannot be trusted."""
    if client is None:
        raise InvalidRequest("unknown client_id: register the client first")
    values = params.get("redirect_uri", [])
    if len(values) > 1:
        raise InvalidRequest("redirect_uri given more than once")
    if not values and len(client.redirect_uris) != 1:
        raise InvalidRequest("redirect_uri is required")
    uri = values[0] if values else client.redirect_uris[0]
    # RFC 9700 §2.1: exact string match (a loopback port may vary, RFC 8252 §7.3). The sole
    # registered URI is matched too: one stored before today's registration rules may be unusable.
    if not matches(uri, client.redirect_uris):
        raise InvalidRequest("redirect_uri is not registered for this client, or not usable")
    return uri


def parse_request(
    params: Mapping[str, Sequence[str]],
    client: Client,
    redirect_uri: str,
    *,
    issuer: str,
    scopes_supported: tuple[str, ...],
    allowed_audiences: tuple[str, ...],
) -> AuthorizationRequest:
    """The validated request; RedirectableError for anything wrong in it."""
    state_values = params.get("state", [])
    state = state_values[0] if len(state_values) == 1 else None
    try:
        return _parse(
            params,
            client,
            redirect_uri,
            state=state,
            scopes_supported=scopes_supported,
            allowed_audiences=allowed_audiences,
        )
    except OAuthError as error:
        raise RedirectableError(error, redirect_uri, state, issuer) from None


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name, [])
    return values[0] if values else None


def _parse(
    params: Mapping[str, Sequence[str]],
    client: Client,
    redirect_uri: str,
    *,
    state: str | None,
    scopes_supported: tuple[str, ...],
    allowed_audiences: tuple[str, ...],
) -> AuthorizationRequest:
    if repeated := [name for name in _SINGLE if len(params.get(name, [])) > 1]:
        raise InvalidRequest(f"parameters given more than once: {', '.join(repeated)}")
    if _one(params, "response_type") != "code":
        raise UnsupportedResponseType("response_type must be code")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        raise InvalidRequest("state is too long")
    nonce = _one(params, "nonce")
    if nonce is not None and len(nonce) > MAX_NONCE_LENGTH:
        raise InvalidRequest("nonce is too long")
    challenge = pkce.check_challenge(_one(params, "code_challenge"), _one(params, "code_challenge_method"))
    requested = (_one(params, "scope") or client.scope or "").split()
    if unknown := [scope for scope in requested if scope not in scopes_supported]:
        raise InvalidScope(f"unsupported scopes: {' '.join(unknown)}")
    resources = list(params.get("resource", []))
    # RFC 8707 §2: the resource the token is for; exactly one, and one this server serves.
    if not resources and len(allowed_audiences) == 1:
        resources = [allowed_audiences[0]]
    if len(resources) != 1 or resources[0] not in allowed_audiences:
        raise InvalidTarget("resource must name exactly one MCP endpoint this server issues tokens for")
    return AuthorizationRequest(
        client.client_id, redirect_uri, state, challenge, tuple(dict.fromkeys(requested)), resources[0], nonce
    )
