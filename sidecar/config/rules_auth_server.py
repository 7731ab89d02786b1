# SPDX-License-Identifier: Apache-2.0
"""Rules for Mode B, named as in ToolHive's RFC-0053 so users can look them up.

- V-04 ``auth_server.issuer`` equals ``incoming_auth.oidc.issuer`` exactly.
- V-05 the authorization server's own settings are valid (issuer, upstreams, audiences, keys,
  secrets, lifetimes).
- V-06 upstream names are non-empty and unique.
- V-07 every audience incoming auth accepts is one of ``auth_server.allowed_audiences``.
- An embedded authorization server requires ``incoming_auth.type: oidc``.

V-01..V-03 (outgoing auth) are in ``rules_outgoing.py``. Reading the key and secret
files (and their V-05 checks) is the loader's (``material.py``); these rules only look at what it
read, in ``Settings.secrets``.
"""

from __future__ import annotations

from collections.abc import Iterator

from sidecar.config.auth_server import (
    AuthServerSettings,
    OAuth2Upstream,
    OAuth2UpstreamConfig,
    OidcUpstream,
    OidcUpstreamConfig,
    StaticUpstream,
)
from sidecar.config.errors import ConfigIssue, warning
from sidecar.config.passwords import PasswordHashError, parse_password_hash
from sidecar.config.rules_storage import check_storage
from sidecar.config.schema import OidcIncoming, Settings
from sidecar.config.values import (
    NAME_FIX,
    canonical_origin,
    cleartext_url_problem,
    name_problem,
    split_url,
)

_LIFESPANS = {
    "access_token_lifespan": (5.0, 86400.0, "5s", "1d"),
    "refresh_token_lifespan": (3600.0, 90 * 86400.0, "1h", "90d"),
    "auth_code_lifespan": (10.0, 600.0, "10s", "10m"),
}


def check_auth_server(settings: Settings) -> Iterator[ConfigIssue]:
    auth_server = settings.auth_server
    if auth_server is None:
        return
    incoming = settings.incoming_auth
    if not isinstance(incoming, OidcIncoming):
        yield ConfigIssue(
            "incoming_auth.type",
            "must be oidc when auth_server is set",
            "set incoming_auth: {type: oidc, oidc: {issuer: <auth_server.issuer>}}",
        )
    else:
        if incoming.oidc.issuer != auth_server.issuer:
            yield ConfigIssue(
                "auth_server.issuer",
                "V-04: differs from incoming_auth.oidc.issuer",
                "make both the same string, byte for byte (every token would be refused)",
            )
        current = settings.secrets.signing_key
        if auth_server.signing_key_config is None:
            yield from _check_validation_fits(auth_server, incoming, "ES256")  # the ephemeral key's
        elif current is not None:  # else the key file's problem is already reported
            yield from _check_validation_fits(auth_server, incoming, current.algorithm)
        public = settings.server.public_url
        audiences = (
            [incoming.oidc.audience]
            if incoming.oidc.audience
            else [
                (public or "").rstrip("/") + path
                for backend in settings.backends
                for path in backend.public_paths()
            ]
        )
        for audience in audiences:
            if public is not None and audience not in auth_server.allowed_audiences:
                yield ConfigIssue(
                    "incoming_auth.oidc.audience"
                    if incoming.oidc.audience
                    else "auth_server.allowed_audiences",
                    f"V-07: {audience!r} is accepted by incoming auth but not in allowed_audiences",
                    "list every MCP endpoint URL (public_url + path) in allowed_audiences",
                )
    yield from _check_issuer(auth_server, settings.server.public_url)
    yield from _check_limits(auth_server)
    yield from _check_upstreams(auth_server)
    yield from check_storage(auth_server.storage, settings.server.workers)
    yield from _check_shared_secrets(auth_server, settings.server.workers)


def _check_shared_secrets(auth_server: AuthServerSettings, workers: int) -> Iterator[ConfigIssue]:
    """Each worker would make its own ephemeral key and secret: a token or code issued by one
    would be refused by the others."""
    if workers <= 1:
        return
    if auth_server.signing_key_config is None:
        yield ConfigIssue(
            "auth_server.signing_key_config",
            f"an ephemeral signing key cannot be shared by server.workers: {workers} processes",
            "set signing_key_config.signing_key_file (mcp-sidecar keygen --out FILE writes one)",
        )
    if not auth_server.hmac_secret_files:
        yield ConfigIssue(
            "auth_server.hmac_secret_files",
            f"an ephemeral HMAC secret cannot be shared by server.workers: {workers} processes",
            "list a secret file (mcp-sidecar keygen --hmac --out FILE writes one)",
        )


def _check_validation_fits(
    auth_server: AuthServerSettings, incoming: OidcIncoming, algorithm: str
) -> Iterator[ConfigIssue]:
    """The validator must accept what this server issues, or every token fails."""
    if incoming.oidc.max_token_lifetime < auth_server.token_lifespans.access_token_lifespan:
        yield ConfigIssue(
            "incoming_auth.oidc.max_token_lifetime",
            "is shorter than the access tokens issued",
            "make it at least auth_server.token_lifespans.access_token_lifespan",
        )
    if algorithm not in incoming.oidc.allowed_algorithms:
        yield ConfigIssue(
            "incoming_auth.oidc.allowed_algorithms",
            f"does not list {algorithm}, the signing key's",
            f"add {algorithm}",
        )


def _check_issuer(auth_server: AuthServerSettings, public_url: str | None) -> Iterator[ConfigIssue]:
    where = "auth_server.issuer"
    parts = split_url(auth_server.issuer)
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
    ):
        yield ConfigIssue(where, "V-05: must be an absolute https URL without query or fragment")
        return
    if cleartext := cleartext_url_problem(auth_server.issuer):
        if auth_server.insecure_allow_http:
            yield warning(where, cleartext, "development only: use https")
        else:
            yield ConfigIssue(
                where,
                "V-05: must use https (http only on loopback)",
                "use https, or set auth_server.insecure_allow_http: true for development",
            )
    if (
        public_url is not None
        and split_url(public_url)
        and canonical_origin(auth_server.issuer) != canonical_origin(public_url)
    ):
        yield ConfigIssue(
            where,
            "V-05: must be on the sidecar's own origin (server.public_url)",
            "the authorization server's routes are served by this sidecar",
        )
    if not auth_server.allowed_audiences:
        yield ConfigIssue(
            "auth_server.allowed_audiences",
            "V-05: must list at least one audience",
            "list the public URL of each MCP endpoint",
        )
    for index, scope in enumerate(auth_server.scopes_supported):
        if not scope or any(c in scope for c in ' "\\'):
            yield ConfigIssue(f"auth_server.scopes_supported[{index}]", f"{scope!r} is not a valid scope")


def _check_limits(auth_server: AuthServerSettings) -> Iterator[ConfigIssue]:
    for key, (low, high, low_text, high_text) in _LIFESPANS.items():
        if not low <= getattr(auth_server.token_lifespans, key) <= high:
            yield ConfigIssue(
                f"auth_server.token_lifespans.{key}", f"V-05: must be between {low_text} and {high_text}"
            )
    if not 0 <= auth_server.refresh_grace_period <= 60:
        yield ConfigIssue(
            "auth_server.refresh_grace_period",
            "must be between 0s and 60s",
            "a few seconds covers a retry; 0s turns the grace window off",
        )
    if not 0 <= auth_server.consent_lifetime <= 365 * 86400:
        yield ConfigIssue("auth_server.consent_lifetime", "must be between 0s and 365d")
    if not 1 <= auth_server.cimd.cache_max_size <= 100_000:
        yield ConfigIssue("auth_server.cimd.cache_max_size", "must be between 1 and 100000")
    if not 30 <= auth_server.cimd.cache_fallback_ttl <= 86400:
        yield ConfigIssue("auth_server.cimd.cache_fallback_ttl", "must be between 30s and 1d")
    if not auth_server.dcr.enabled and not auth_server.cimd.enabled:
        yield warning(
            "auth_server.dcr.enabled",
            "is false and auth_server.cimd.enabled is false too: no client can get a client_id",
            "enable one of them",
        )
    if auth_server.max_clients < 1:
        yield ConfigIssue("auth_server.max_clients", "must be at least 1")
    if not 3600 <= auth_server.client_idle_ttl <= 365 * 86400:
        yield ConfigIssue("auth_server.client_idle_ttl", "must be between 1h and 365d")


def _check_upstreams(auth_server: AuthServerSettings) -> Iterator[ConfigIssue]:
    if not auth_server.upstreams:
        yield ConfigIssue(
            "auth_server.upstreams", "V-05: must name the upstream identity provider users log in with"
        )
    seen: set[str] = set()
    for index, upstream in enumerate(auth_server.upstreams):
        where = f"auth_server.upstreams[{index}]"
        if problem := name_problem(upstream.name):
            yield ConfigIssue(f"{where}.name", f"V-06: {problem}", NAME_FIX)
        elif upstream.name in seen:
            yield ConfigIssue(
                f"{where}.name", f"V-06: {upstream.name!r} is used twice", "give each upstream its own name"
            )
        seen.add(upstream.name)
        if isinstance(upstream, OidcUpstream):
            yield from _check_remote_upstream(upstream.oidc_config, f"{where}.oidc_config", ("issuer_url",))
        elif isinstance(upstream, OAuth2Upstream):
            yield from _check_remote_upstream(
                upstream.oauth2_config,
                f"{where}.oauth2_config",
                ("authorization_endpoint", "token_endpoint", "userinfo_endpoint"),
            )
        elif isinstance(upstream, StaticUpstream):
            yield from _check_static_upstream(upstream, f"{where}.static_config")


def _check_remote_upstream(
    config: OidcUpstreamConfig | OAuth2UpstreamConfig, where: str, url_keys: tuple[str, ...]
) -> Iterator[ConfigIssue]:
    for key in url_keys:
        parts = split_url(getattr(config, key))
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            yield ConfigIssue(f"{where}.{key}", "must be an absolute https URL")
        elif parts.scheme == "http" and not config.insecure_allow_http:
            yield ConfigIssue(
                f"{where}.{key}", "must use https", "or set insecure_allow_http: true for development"
            )


def _check_static_upstream(upstream: StaticUpstream, where: str) -> Iterator[ConfigIssue]:
    if not upstream.static_config.users:
        yield ConfigIssue(
            f"{where}.users",
            "must list at least one user",
            "add {username, password_hash} (hash with: mcp-sidecar hash-password)",
        )
    names: set[str] = set()
    for index, user in enumerate(upstream.static_config.users):
        if not user.username or user.username in names:
            yield ConfigIssue(f"{where}.users[{index}].username", "must be non-empty and unique")
        names.add(user.username)
        try:
            parse_password_hash(user.password_hash)
        except PasswordHashError as exc:
            yield ConfigIssue(
                f"{where}.users[{index}].password_hash", str(exc), "make one with: mcp-sidecar hash-password"
            )
