# SPDX-License-Identifier: Apache-2.0
"""RFC 7591 dynamic client registration: metadata checks and the registered client."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sidecar.authserver.errors import AccessDenied, InvalidClientMetadata, InvalidToken
from sidecar.authserver.redirect_uris import check_registrable
from sidecar.storage.records import Client

AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
GRANT_TYPES = ("authorization_code", "refresh_token")
MAX_REDIRECT_URIS = 10


def _strings(metadata: Mapping[str, Any], key: str, default: list[str]) -> list[str]:
    value = metadata.get(key, default)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidClientMetadata(f"{key} must be a list of strings")
    return value


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """The checked RFC 7591 §2 members every client (registered or CIMD) has."""

    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    application_type: str
    client_name: str | None
    scope: str | None


def check_metadata(
    metadata: Mapping[str, Any], *, scopes_supported: tuple[str, ...], drop_unknown_grants: bool = False
) -> ClientMetadata:
    """RFC 7591 §2: the members this server uses, or InvalidClientMetadata naming the member.
    ``drop_unknown_grants`` ignores grant types this server does not do instead of refusing them
    (a metadata document is written for many servers: VS Code's lists device_code)."""
    redirect_uris = _strings(metadata, "redirect_uris", [])
    if not redirect_uris:
        raise InvalidClientMetadata("redirect_uris is required")
    if len(redirect_uris) > MAX_REDIRECT_URIS:
        raise InvalidClientMetadata(f"at most {MAX_REDIRECT_URIS} redirect_uris")
    for uri in redirect_uris:
        check_registrable(uri)
    grant_types = _strings(metadata, "grant_types", ["authorization_code", "refresh_token"])
    if drop_unknown_grants:
        grant_types = [g for g in grant_types if g in GRANT_TYPES]
    # OAuth 2.1 removed the implicit and password grants; only what this server does is accepted.
    if unknown := [g for g in grant_types if g not in GRANT_TYPES]:
        raise InvalidClientMetadata(f"unsupported grant_types: {unknown}")
    if "authorization_code" not in grant_types:
        raise InvalidClientMetadata("grant_types must include authorization_code")
    if [r for r in _strings(metadata, "response_types", ["code"]) if r != "code"]:
        raise InvalidClientMetadata("response_types may only be code")
    application_type = metadata.get("application_type", "native")
    if application_type not in ("native", "web"):
        raise InvalidClientMetadata("application_type must be native or web")
    scope = metadata.get("scope")
    if scope is not None and (not isinstance(scope, str) or not set(scope.split()) <= set(scopes_supported)):
        raise InvalidClientMetadata("scope lists a scope this server does not support")
    name = metadata.get("client_name")
    return ClientMetadata(
        tuple(redirect_uris),
        tuple(grant_types),
        application_type,
        name[:200] if isinstance(name, str) else None,
        scope,
    )


def register(metadata: object, *, scopes_supported: tuple[str, ...], now: float) -> tuple[Client, str | None]:
    """Validate client metadata (RFC 7591 §2) and make the client; returns it with its secret,
    which exists only for confidential clients and is stored hashed."""
    if not isinstance(metadata, dict):
        raise InvalidClientMetadata("the registration request must be a JSON object")
    checked = check_metadata(metadata, scopes_supported=scopes_supported)
    method = metadata.get("token_endpoint_auth_method", "none")
    if method not in AUTH_METHODS:
        raise InvalidClientMetadata(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    secret = secrets.token_urlsafe(32) if method != "none" else None
    client = Client(
        client_id=secrets.token_urlsafe(16),
        redirect_uris=checked.redirect_uris,
        token_endpoint_auth_method=method,
        secret_hash=hash_secret(secret) if secret is not None else None,
        grant_types=checked.grant_types,
        application_type=checked.application_type,
        client_name=checked.client_name,
        scope=checked.scope,
        created_at=now,
    )
    return client, secret


def check_registration_allowed(
    enabled: bool, initial_access_token: str | None, authorization: str | None
) -> None:
    """RFC 7591 §3: registration may be closed, or gated by an initial access token sent as
    ``Authorization: Bearer`` (RFC 6750 §2.1)."""
    if not enabled:
        raise AccessDenied("dynamic client registration is closed on this server")
    if initial_access_token is None:
        return
    scheme, _, presented = (authorization or "").partition(" ")
    # SECURITY: a constant-time compare of digests, so neither the token's bytes nor its length leak.
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        hash_secret(presented.strip()), hash_secret(initial_access_token)
    ):
        raise InvalidToken("registration needs a valid initial access token")


def hash_secret(secret: str) -> str:
    # A 256-bit random secret needs no slow hash: SHA-256 is preimage resistant at that entropy.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()  # any header bytes


def registration_response(client: Client, secret: str | None) -> dict[str, Any]:
    """RFC 7591 §3.2.1: the client information response."""
    response: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at),
        "redirect_uris": list(client.redirect_uris),
        "grant_types": list(client.grant_types),
        "response_types": ["code"],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "application_type": client.application_type,
    }
    if client.client_name is not None:
        response["client_name"] = client.client_name
    if client.scope is not None:
        response["scope"] = client.scope
    if secret is not None:
        response["client_secret"] = secret
        response["client_secret_expires_at"] = 0
    return response
