# SPDX-License-Identifier: Apache-2.0
"""The OAuth JSON endpoints: client registration (RFC 7591), token (RFC 6749 §3.2),
revocation (RFC 7009) and OpenID Connect UserInfo (Core §5.3). Answers carry ``no-store`` and
may be read from any origin."""

from __future__ import annotations

import json

import structlog
from aiohttp import web

from sidecar.authserver.errors import (
    InvalidClientMetadata,
    OAuthError,
    TemporarilyUnavailable,
    TooManyRequests,
)
from sidecar.authserver.oidc import OPENID
from sidecar.authserver.oidc import userinfo as oidc_userinfo
from sidecar.authserver.policy import MAX_FORM_BYTES
from sidecar.authserver.registration import check_registration_allowed, register, registration_response
from sidecar.authserver.tokens import verify_own_access_token
from sidecar.authserver.web.common import (
    AUTH_SERVER,
    NO_STORE,
    client_address,
    oauth_error,
    read_body,
    read_form,
)
from sidecar.public_documents import ANY_ORIGIN

log = structlog.get_logger("sidecar.authserver.web")


async def register_client(request: web.Request) -> web.Response:
    """RFC 7591 §3."""
    server = request.app[AUTH_SERVER]
    try:
        check_registration_allowed(
            server.settings.dcr.enabled, server.initial_access_token, request.headers.get("Authorization")
        )
        if not await server.registrations.allow(client_address(request), server.clock()):
            server.metrics.client_registrations.labels("throttled").inc()
            raise TooManyRequests("too many registrations from this address; try again later")
        if request.content_type != "application/json" or (request.content_length or 0) > MAX_FORM_BYTES:
            raise InvalidClientMetadata("the registration must be a JSON object of at most 16 KiB")
        try:
            body = json.loads(await read_body(request))
        except (ValueError, RecursionError):
            raise InvalidClientMetadata("the registration is not valid JSON") from None
        client, secret = register(body, scopes_supported=server.settings.scopes_supported, now=server.clock())
        if not await server.storage.add_client(client, server.clock()):
            server.metrics.client_registrations.labels("throttled").inc()
            raise TemporarilyUnavailable("the client registry is full; try again later")
    except OAuthError as error:
        if not isinstance(error, TooManyRequests | TemporarilyUnavailable):
            server.metrics.client_registrations.labels("rejected").inc()
        return oauth_error(request, "register", error)
    server.metrics.client_registrations.labels("ok").inc()
    log.info("client_registered", client_id=client.client_id, auth_method=client.token_endpoint_auth_method)
    return web.json_response(
        registration_response(client, secret), status=201, headers={**NO_STORE, **ANY_ORIGIN}
    )


async def token(request: web.Request) -> web.Response:
    server = request.app[AUTH_SERVER]
    try:
        form = await read_form(request)
        client = await server.tokens.authenticate_client(form, request.headers.get("Authorization"))
        response = await server.tokens.exchange(form, client)
    except OAuthError as error:
        return oauth_error(request, "token", error)
    server.metrics.tokens_issued.labels(form["grant_type"]).inc()
    return web.json_response(response, headers={**NO_STORE, **ANY_ORIGIN})


async def revoke(request: web.Request) -> web.Response:
    server = request.app[AUTH_SERVER]
    try:
        form = await read_form(request)
        client = await server.tokens.authenticate_client(form, request.headers.get("Authorization"))
        await server.tokens.revoke(form, client)
    except OAuthError as error:
        return oauth_error(request, "revoke", error)
    return web.Response(status=200, headers={**NO_STORE, **ANY_ORIGIN})


async def userinfo(request: web.Request) -> web.Response:
    """OpenID Connect Core §5.3, with the access token as a Bearer header (RFC 6750 §2.1)."""
    server = request.app[AUTH_SERVER]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        # RFC 6750 §3.1: no token, no error code.
        return _bearer_refusal(401, 'Bearer realm="mcp-sidecar"')
    claims = verify_own_access_token(server.keys, server.issuer, token.strip())
    session = claims.get("tsid") if claims is not None else None
    if claims is None or (isinstance(session, str) and await server.session_revoked(session)):
        return _bearer_refusal(401, 'Bearer realm="mcp-sidecar", error="invalid_token"')
    if OPENID not in str(claims.get("scope", "")).split():
        # §5.3.3 / RFC 6750 §3.1: a token from a request without openid is not enough.
        return _bearer_refusal(
            403, f'Bearer realm="mcp-sidecar", error="insufficient_scope", scope="{OPENID}"'
        )
    return web.json_response(oidc_userinfo(claims), headers={**NO_STORE, **ANY_ORIGIN})


def _bearer_refusal(status: int, challenge: str) -> web.Response:
    headers = {**NO_STORE, **ANY_ORIGIN, "WWW-Authenticate": challenge}
    headers["Access-Control-Expose-Headers"] = "WWW-Authenticate"
    return web.Response(status=status, headers=headers)
