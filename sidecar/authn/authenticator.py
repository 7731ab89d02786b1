# SPDX-License-Identifier: Apache-2.0
"""What the proxy calls: authenticate a request for a backend, or render why not."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from sidecar.authn import bearer, errors
from sidecar.authn.protected_resource import metadata_path, resource_url
from sidecar.authn.validator import Identity, TokenValidator
from sidecar.config.schema import BackendSettings, OidcSettings
from sidecar.observability.metrics import Metrics

_CONTROL_FREE = set(map(chr, range(0x20, 0x7F)))
_NO_QUERY: MultiDictProxy[str] = MultiDictProxy(MultiDict())


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """Per-backend values, computed once. A backend with the legacy HTTP+SSE transport is served
    on several paths; each is a resource of its own (RFC 9728 §3.3: the metadata's ``resource``
    is the URL the client called), and a token for any of them is good on all of them."""

    resource: str  # of the main path
    resources: dict[str, str]  # public path -> resource URL
    metadata_urls: dict[str, str]  # public path -> its RFC 9728 document
    audiences: frozenset[str]
    required_scopes: tuple[str, ...]
    challenge_scopes: tuple[str, ...]


def resource_policy(oidc: OidcSettings, public_url: str, backend: BackendSettings) -> ResourcePolicy:
    paths = backend.public_paths()
    resources = {path: resource_url(public_url, path) for path in paths}
    required = tuple(dict.fromkeys((*oidc.required_scopes, *backend.required_scopes)))
    return ResourcePolicy(
        resource=resources[paths[0]],
        resources=resources,
        metadata_urls={path: public_url.rstrip("/") + metadata_path(path) for path in paths},
        audiences=frozenset([oidc.audience] if oidc.audience is not None else resources.values()),
        required_scopes=required,
        challenge_scopes=tuple(s for s in (required or oidc.scopes_supported) if s != "offline_access"),
    )


def reason_of(error: errors.AuthError) -> str:
    """The bounded label of a failure, for metrics and the access event."""
    if isinstance(error, errors.TokenRejected):
        return error.reason
    return {
        errors.InvalidRequest: "invalid_request",
        errors.MissingToken: "missing",
        errors.InsufficientScope: "insufficient_scope",
        errors.KeysUnavailable: "unavailable",
    }.get(type(error), "error")


class Authenticator:
    def __init__(
        self,
        oidc: OidcSettings,
        public_url: str,
        backends: tuple[BackendSettings, ...],
        validator: TokenValidator,
        metrics: Metrics,
    ) -> None:
        self._validator, self._metrics = validator, metrics
        self.policies = {b.name: resource_policy(oidc, public_url, b) for b in backends}
        self._identity_headers = tuple((h.header, h.claim) for h in oidc.identity_headers)
        self.identity_header_names = frozenset(h.header.lower() for h in oidc.identity_headers)

    async def authenticate(self, request: web.Request, backend: str, *, keep_token: bool = True) -> Identity:
        """The caller's identity; with ``keep_token``, carrying the token itself (for token
        exchange: the verified-token cache never holds it)."""
        policy = self.policies[backend]
        # Anything but a clean answer counts as "error", never as "ok".
        started, source, result = time.perf_counter(), "none", "error"
        try:
            # Parsed only when there is a query (a substring test would miss %-encoded names).
            query = request.query if request.rel_url.raw_query_string else _NO_QUERY
            token = bearer.extract_token(request.headers, query)
            identity = await self._validator.validate(token, policy.audiences)
            source = identity.source
            if not identity.scopes.issuperset(policy.required_scopes):
                # MCP 2026-07-28: name every scope the operation needs in one challenge.
                raise errors.InsufficientScope(
                    "the token lacks a scope this resource requires", policy.required_scopes
                )
        except errors.AuthError as exc:
            result = reason_of(exc)
            raise
        else:
            result = "ok"
        finally:
            self._metrics.count_validation(result, source, time.perf_counter() - started)
        if not keep_token:
            return identity
        return Identity(
            identity.subject, identity.scopes, identity.claims, identity.expires_at, identity.source, token
        )

    def error_response(self, error: errors.AuthError, backend: str, path: str) -> web.Response:
        """The answer to a request on the public ``path`` (a route prefix) of ``backend``."""
        policy = self.policies[backend]
        headers: dict[str, str] = {}
        if isinstance(error, errors.KeysUnavailable):
            headers["Retry-After"] = str(error.retry_after)
        else:
            scopes = (
                tuple(s for s in error.needed if s != "offline_access")
                if isinstance(error, errors.InsufficientScope)
                else policy.challenge_scopes
            )
            headers["WWW-Authenticate"] = bearer.challenge(policy.metadata_urls[path], scopes, error)
        return web.json_response(bearer.error_body(error), status=error.status, headers=headers)

    def identity_headers(self, identity: Identity) -> dict[str, str]:
        out: dict[str, str] = {}
        for header, claim in self._identity_headers:
            raw = identity.claims.get(claim)
            items = raw if isinstance(raw, list) else [raw]
            value = ",".join(text for item in items if (text := _scalar(item)) is not None)
            # SECURITY: only printable ASCII reaches a header (no CR/LF injection, no encoding games).
            if value and set(value) <= _CONTROL_FREE:
                out[header] = value
        return out


def _scalar(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None
