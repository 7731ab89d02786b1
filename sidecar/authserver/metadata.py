# SPDX-License-Identifier: Apache-2.0
"""RFC 8414 authorization server metadata (also served as OpenID Connect Discovery)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sidecar.authserver.oidc import CLAIMS_SUPPORTED
from sidecar.authserver.registration import AUTH_METHODS, GRANT_TYPES

AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/token"  # noqa: S105 - a path, not a secret
REGISTER_PATH = "/oauth/register"
REVOKE_PATH = "/oauth/revoke"
CALLBACK_PATH = "/oauth/callback"
LOGIN_PATH = "/oauth/login"
CONSENT_PATH = "/oauth/consent"
USERINFO_PATH = "/oauth/userinfo"
JWKS_PATH = "/.well-known/jwks.json"


def metadata_paths(issuer: str) -> list[str]:
    """Where the document is served: RFC 8414 §3.1 inserts the well-known string before the
    issuer's path; OIDC Discovery §4 appends it (both, when the issuer has a path)."""
    path = urlsplit(issuer).path.rstrip("/")
    paths = ["/.well-known/oauth-authorization-server" + path, "/.well-known/openid-configuration" + path]
    if path:
        paths.append(path + "/.well-known/openid-configuration")
    return paths


def metadata(
    issuer: str,
    origin: str,
    scopes_supported: tuple[str, ...],
    algorithm: str,
    *,
    cimd: bool,
    dcr: bool = True,
) -> dict[str, Any]:
    """The document; ``issuer`` is byte-identical to the configured one (RFC 8414 §3.3)."""
    return {
        "issuer": issuer,
        "authorization_endpoint": origin + AUTHORIZE_PATH,
        "token_endpoint": origin + TOKEN_PATH,
        "revocation_endpoint": origin + REVOKE_PATH,
        "jwks_uri": origin + JWKS_PATH,
        "userinfo_endpoint": origin + USERINFO_PATH,
        "scopes_supported": list(scopes_supported),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "code_challenge_methods_supported": ["S256"],
        # RFC 9207: the authorization response carries iss (mix-up defence).
        "authorization_response_iss_parameter_supported": True,
        "subject_types_supported": ["public"],
        # OpenID Connect Discovery §3: what oidc.py implements, and only that.
        "id_token_signing_alg_values_supported": [algorithm],
        "claims_supported": list(CLAIMS_SUPPORTED),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        # MCP SEP-991 (cimd.py); also in the OIDC document, which VS Code reads.
        "client_id_metadata_document_supported": cimd,
    } | ({"registration_endpoint": origin + REGISTER_PATH} if dcr else {})
