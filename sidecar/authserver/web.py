# SPDX-License-Identifier: Apache-2.0
"""The authorization server's routes: parse, call, render. Mounted only in Mode B, without
bearer authentication (the authorization server has its own rules)."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Sequence
from urllib.parse import parse_qsl, urlsplit

import aiohttp_jinja2
import jinja2
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from sidecar.authserver import metadata
from sidecar.authserver.authorize import (
    RedirectableError,
    check_redirect_target,
    parse_request,
    redirect_with,
)
from sidecar.authserver.errors import (
    InvalidClient,
    InvalidClientMetadata,
    InvalidRequest,
    OAuthError,
    RequestTimeout,
    StorageUnavailable,
    TemporarilyUnavailable,
    TooManyRequests,
)
from sidecar.authserver.registration import register, registration_response
from sidecar.authserver.server import BINDING_COOKIE, PENDING_LIFETIME, AuthServer
from sidecar.authserver.upstreams.static import StaticProvider
from sidecar.observability.access import REQUEST_INFO
from sidecar.public_documents import ANY_ORIGIN, cors_preflight, public_json
from sidecar.request_body import BodyIncomplete, BodyTimeout, BodyTooLarge, BoundedBody
from sidecar.storage.protocol import StorageError
from sidecar.storage.records import PendingAuthorization
from sidecar.tasks import BackgroundTasks

log = structlog.get_logger("sidecar.authserver.web")
AUTH_SERVER = web.AppKey("auth_server", AuthServer)
MAX_FORM_BYTES = 16 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Pages are never framed (clickjacking, RFC 9700 §4.16) and load nothing but themselves.
_PAGE_HEADERS = {
    **_NO_STORE,
    "X-Frame-Options": "DENY",
    # No form-action: browsers apply it to the redirect that follows the login form, which goes
    # to the client's own redirect URI.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def add_routes(app: web.Application, server: AuthServer) -> None:
    app[AUTH_SERVER] = server
    aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("sidecar.authserver", "templates"), autoescape=True)
    document = metadata.metadata(
        server.issuer, server.origin, server.settings.scopes_supported, server.keys.jwks()["keys"][0]["alg"]
    )
    for path in metadata.metadata_paths(server.issuer):
        app.router.add_get(path, public_json(document))
        app.router.add_route("OPTIONS", path, cors_preflight)
    app.router.add_get(metadata.JWKS_PATH, public_json(server.keys.jwks()))
    app.router.add_route("OPTIONS", metadata.JWKS_PATH, cors_preflight)
    app.router.add_post(metadata.REGISTER_PATH, _storage_guard(_register, "register"))
    app.router.add_route("OPTIONS", metadata.REGISTER_PATH, cors_preflight)
    app.router.add_get(
        metadata.AUTHORIZE_PATH, _storage_guard(_authorize), allow_head=False
    )  # HEAD must not start a login
    app.router.add_post(metadata.TOKEN_PATH, _storage_guard(_token, "token"))
    app.router.add_route("OPTIONS", metadata.TOKEN_PATH, cors_preflight)
    app.router.add_post(metadata.REVOKE_PATH, _storage_guard(_revoke, "revoke"))
    app.router.add_route("OPTIONS", metadata.REVOKE_PATH, cors_preflight)
    if isinstance(server.upstream, StaticProvider):
        app.router.add_get(metadata.LOGIN_PATH, _storage_guard(_page("login.html")))
        app.router.add_post(metadata.LOGIN_PATH, _storage_guard(_login_submit))
    else:
        app.router.add_get(metadata.CONSENT_PATH, _storage_guard(_page("consent.html")))
        app.router.add_post(metadata.CONSENT_PATH, _storage_guard(_consent_submit))
        app.router.add_get(metadata.CALLBACK_PATH, _storage_guard(_callback))
    app.cleanup_ctx.append(_lifecycle)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    tasks = BackgroundTasks()
    tasks.spawn(app[AUTH_SERVER].probe_storage(), name="probe:storage")
    yield
    await tasks.close()
    await app[AUTH_SERVER].close()


def _oauth_error(request: web.Request, endpoint: str, error: OAuthError) -> web.Response:
    server = request.app[AUTH_SERVER]
    server.metrics.oauth_errors.labels(endpoint, error.error).inc()
    request[REQUEST_INFO].outcome = f"oauth_{error.error}"
    headers = {**_NO_STORE, **ANY_ORIGIN}
    if isinstance(error, InvalidClient) and request.headers.get("Authorization", "").lower().startswith(
        "basic"
    ):
        headers["WWW-Authenticate"] = 'Basic realm="mcp-sidecar"'
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = "60"
    if isinstance(error, TemporarilyUnavailable):
        headers["Retry-After"] = str(error.retry_after)
    return web.json_response(error.body(), status=error.status, headers=headers)


def _error_page(request: web.Request, error: OAuthError, status: int = 400) -> web.Response:
    request.app[AUTH_SERVER].metrics.authorizations.labels("error").inc()
    request[REQUEST_INFO].outcome = f"oauth_{error.error}"
    response = aiohttp_jinja2.render_template(
        "error.html", request, {"error": error.error, "description": error.description}, status=status
    )
    response.headers.update(_PAGE_HEADERS)
    if isinstance(error, TemporarilyUnavailable):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def _storage_guard(handler: Handler, endpoint: str | None = None) -> Handler:
    """A store that does not answer is a 503 with Retry-After (JSON at ``endpoint``, else the
    error page), never a 500: the request can be retried once the store is back."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except StorageError as error:
            request.app[AUTH_SERVER].storage_failed(error)
            if endpoint is None:
                return _error_page(request, StorageUnavailable(), status=503)
            return _oauth_error(request, endpoint, StorageUnavailable())

    return guarded


async def _body(request: web.Request) -> bytes:
    """The whole body, at most 16 KiB whatever the framing, within the idle timeout."""
    try:
        return await BoundedBody(
            request.content,
            declared=request.content_length,
            limit=MAX_FORM_BYTES,
            timeout=request.app[AUTH_SERVER].body_timeout,
        ).read()
    except BodyTooLarge:
        raise InvalidRequest("the request body is too large") from None
    except BodyTimeout:
        raise RequestTimeout("the request body did not arrive in time") from None
    except BodyIncomplete:
        raise InvalidRequest("the request body ended before it was complete") from None


async def _form(request: web.Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body; RFC 6749 §3.2: no parameter twice."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl((await _body(request)).decode("utf-8"), keep_blank_values=True, max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the body is not a valid UTF-8 form") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise InvalidRequest("a parameter was given more than once")
    return form


async def _register(request: web.Request) -> web.Response:
    """RFC 7591 §3."""
    server = request.app[AUTH_SERVER]
    try:
        if not server.registrations.allow(_client(request), server.clock()):
            server.metrics.client_registrations.labels("throttled").inc()
            raise TooManyRequests("too many registrations from this address; try again later")
        if request.content_type != "application/json" or (request.content_length or 0) > MAX_FORM_BYTES:
            raise InvalidClientMetadata("the registration must be a JSON object of at most 16 KiB")
        try:
            body = json.loads(await _body(request))
        except (ValueError, RecursionError):
            raise InvalidClientMetadata("the registration is not valid JSON") from None
        client, secret = register(body, scopes_supported=server.settings.scopes_supported, now=server.clock())
        if not await server.storage.add_client(client, server.clock()):
            server.metrics.client_registrations.labels("throttled").inc()
            raise TemporarilyUnavailable("the client registry is full; try again later")
    except OAuthError as error:
        if not isinstance(error, TooManyRequests | TemporarilyUnavailable):
            server.metrics.client_registrations.labels("rejected").inc()
        return _oauth_error(request, "register", error)
    server.metrics.client_registrations.labels("ok").inc()
    log.info("client_registered", client_id=client.client_id, auth_method=client.token_endpoint_auth_method)
    return web.json_response(
        registration_response(client, secret), status=201, headers={**_NO_STORE, **ANY_ORIGIN}
    )


def _client(request: web.Request) -> str:
    return request.app[AUTH_SERVER].client_address(
        request.remote, request.headers.getall("X-Forwarded-For", [])
    )


def _params(request: web.Request) -> dict[str, Sequence[str]]:
    query = request.rel_url.query
    return {name: query.getall(name) for name in query}


async def _authorize(request: web.Request) -> web.StreamResponse:
    server = request.app[AUTH_SERVER]
    params = _params(request)
    client_ids = params.get("client_id", [])
    client = await server.storage.get_client(client_ids[0], server.clock()) if len(client_ids) == 1 else None
    try:
        redirect_uri = check_redirect_target(params, client)
    except OAuthError as error:
        return _error_page(request, error)  # never redirect to an unverified URI
    assert client is not None  # noqa: S101 - check_redirect_target refused a missing client
    try:
        authorization = parse_request(
            params,
            client,
            redirect_uri,
            issuer=server.issuer,
            scopes_supported=server.settings.scopes_supported,
            allowed_audiences=server.settings.allowed_audiences,
        )
        binding = secrets.token_urlsafe(24)
        _pending, next_url = await server.start_pending(authorization, binding)
    except RedirectableError as error:
        server.metrics.oauth_errors.labels("authorize", error.error.error).inc()
        raise web.HTTPFound(error.location()) from None
    except OAuthError as error:  # the upstream cannot be reached
        raise web.HTTPFound(
            redirect_with(redirect_uri, {**error.body(), "state": authorization.state, "iss": server.issuer})
        ) from None
    server.metrics.authorizations.labels("started").inc()
    response = web.HTTPFound(next_url, headers=_NO_STORE)
    # Ties the login to this user agent (RFC 9700 §4.7); Lax so the upstream's top-level
    # redirect back to the callback still carries it.
    response.set_cookie(
        BINDING_COOKIE,
        binding,
        max_age=int(PENDING_LIFETIME),
        path="/oauth",
        httponly=True,
        samesite="Lax",
        secure=server.issuer.startswith("https://"),
    )
    raise response


def _page(template: str) -> Handler:
    """GET of the login or consent page, for the browser that started the authorization."""

    async def handler(request: web.Request) -> web.StreamResponse:
        server = request.app[AUTH_SERVER]
        try:
            pending = await server.pending_for(
                request.query.get("request", ""), request.cookies.get(BINDING_COOKIE), take=False
            )
        except OAuthError as error:
            return _error_page(request, error)
        return await _render_page(request, template, pending)

    return handler


async def _render_page(
    request: web.Request,
    template: str,
    pending: PendingAuthorization,
    *,
    status: int = 200,
    **extra: str | None,
) -> web.Response:
    """The login or consent page: it names the client and where the code will go (the client
    chose its name; the redirect URI's host is what the user can check)."""
    server = request.app[AUTH_SERVER]
    client = await server.storage.get_client(pending.client_id, server.clock())
    action = metadata.LOGIN_PATH if template == "login.html" else metadata.CONSENT_PATH
    response = aiohttp_jinja2.render_template(
        template,
        request,
        {
            "action": action,
            "request_id": pending.id,
            "client_name": (client.client_name if client else None) or "An application",
            "redirect_host": urlsplit(pending.redirect_uri).netloc or pending.redirect_uri.split(":", 1)[0],
            "resource": pending.resource,
            "scopes": " ".join(pending.scopes),
            **extra,
        },
        status=status,
    )
    response.headers.update(_PAGE_HEADERS)
    return response


async def _consent_submit(request: web.Request) -> web.StreamResponse:
    """Allow: on to the upstream provider. Deny: back to the client with access_denied."""
    server = request.app[AUTH_SERVER]
    try:
        form = await _form(request)
        binding = request.cookies.get(BINDING_COOKIE)
        if form.get("decision") == "allow":
            pending = await server.pending_for(form.get("request", ""), binding, take=False)
            raise web.HTTPSeeOther(pending.upstream_state["authorization_url"], headers=_NO_STORE)
        pending = await server.pending_for(form.get("request", ""), binding, take=True)
    except OAuthError as error:
        return _error_page(request, error)
    server.metrics.authorizations.labels("denied").inc()
    raise web.HTTPSeeOther(
        redirect_with(
            pending.redirect_uri,
            {
                "error": "access_denied",
                "error_description": "the user did not allow access",
                "state": pending.state,
                "iss": server.issuer,
            },
        ),
        headers=_NO_STORE,
    )


async def _login_submit(request: web.Request) -> web.StreamResponse:
    server = request.app[AUTH_SERVER]
    assert isinstance(server.upstream, StaticProvider)  # noqa: S101 - the route exists only then
    try:
        form = await _form(request)
        binding = request.cookies.get(BINDING_COOKIE)
        pending = await server.pending_for(form.get("request", ""), binding, take=False)
    except OAuthError as error:
        return _error_page(request, error)
    if not server.login_attempts.allow(_client(request), server.clock()):
        server.metrics.authorizations.labels("login_failed").inc()
        return _error_page(request, TooManyRequests("too many sign-in attempts; wait a minute"), status=429)
    username = form.get("username", "")
    result = await server.upstream.login(username, form.get("password", ""))
    if result is None:
        server.metrics.authorizations.labels("login_failed").inc()
        log.info("login_failed", upstream=server.upstream.name)
        return await _render_page(
            request, "login.html", pending, status=401, error="Wrong username or password.", username=username
        )
    try:
        pending = await server.pending_for(pending.id, binding, take=True)  # single use
    except OAuthError as error:
        return _error_page(request, error)
    raise web.HTTPSeeOther(await server.finish(pending, result), headers=_NO_STORE)


async def _callback(request: web.Request) -> web.StreamResponse:
    """The upstream OpenID Provider sends the user back here."""
    server = request.app[AUTH_SERVER]
    assert not isinstance(server.upstream, StaticProvider)  # noqa: S101 - the route exists only then
    try:
        pending = await server.pending_for(
            request.query.get("state", ""), request.cookies.get(BINDING_COOKIE), take=True
        )
    except OAuthError as error:
        return _error_page(request, error)
    try:
        result = await server.upstream.complete(dict(request.query), pending.upstream_state)
    except OAuthError as error:
        server.metrics.authorizations.labels("denied").inc()
        log.info("upstream_login_refused", upstream=server.upstream.name, reason=error.description)
        raise web.HTTPFound(
            redirect_with(
                pending.redirect_uri, {**error.body(), "state": pending.state, "iss": server.issuer}
            )
        ) from None
    raise web.HTTPFound(await server.finish(pending, result), headers=_NO_STORE)


async def _token(request: web.Request) -> web.Response:
    server = request.app[AUTH_SERVER]
    try:
        form = await _form(request)
        client = await server.tokens.authenticate_client(form, request.headers.get("Authorization"))
        response = await server.tokens.exchange(form, client)
    except OAuthError as error:
        return _oauth_error(request, "token", error)
    server.metrics.tokens_issued.labels(form["grant_type"]).inc()
    return web.json_response(response, headers={**_NO_STORE, **ANY_ORIGIN})


async def _revoke(request: web.Request) -> web.Response:
    server = request.app[AUTH_SERVER]
    try:
        form = await _form(request)
        client = await server.tokens.authenticate_client(form, request.headers.get("Authorization"))
        await server.tokens.revoke(form, client)
    except OAuthError as error:
        return _oauth_error(request, "revoke", error)
    return web.Response(status=200, headers={**_NO_STORE, **ANY_ORIGIN})
