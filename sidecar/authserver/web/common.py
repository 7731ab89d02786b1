# SPDX-License-Identifier: Apache-2.0
"""What every authorization-server handler shares: the app key, reading bounded form bodies,
the client address, and rendering errors (JSON, or the error page) and flow outcomes."""

from __future__ import annotations

from urllib.parse import parse_qsl

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler

from sidecar.authserver.errors import (
    InvalidClient,
    InvalidRequest,
    InvalidToken,
    OAuthError,
    RequestTimeout,
    StorageUnavailable,
    TemporarilyUnavailable,
    TooManyRequests,
)
from sidecar.authserver.flow import ErrorPage, Outcome, Page
from sidecar.authserver.policy import MAX_FORM_BYTES, PENDING_LIFETIME, REGISTRATION_WINDOW
from sidecar.authserver.server import AuthServer
from sidecar.observability.access import REQUEST_INFO
from sidecar.public_documents import ANY_ORIGIN
from sidecar.request_body import BodyIncomplete, BodyTimeout, BodyTooLarge, BoundedBody
from sidecar.storage.protocol import StorageError

AUTH_SERVER = web.AppKey("auth_server", AuthServer)
BINDING_COOKIE = "mcp_sidecar_authz"
KNOWN_USER_COOKIE = "mcp_sidecar_user"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Pages are never framed (clickjacking, RFC 9700 §4.16) and load nothing but themselves.
PAGE_HEADERS = {
    **NO_STORE,
    "X-Frame-Options": "DENY",
    # No form-action: browsers apply it to the redirect that follows the login form, which goes
    # to the client's own redirect URI.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


def oauth_error(request: web.Request, endpoint: str, error: OAuthError) -> web.Response:
    """An OAuth error as its JSON wire shape (RFC 6749 §5.2)."""
    server = request.app[AUTH_SERVER]
    server.metrics.oauth_errors.labels(endpoint, error.error).inc()
    request[REQUEST_INFO].outcome = f"oauth_{error.error}"
    headers = {**NO_STORE, **ANY_ORIGIN}
    if isinstance(error, InvalidClient) and request.headers.get("Authorization", "").lower().startswith(
        "basic"
    ):
        headers["WWW-Authenticate"] = 'Basic realm="mcp-sidecar"'
    if isinstance(error, InvalidToken):  # RFC 6750 §3: the initial access token (RFC 7591 §3)
        headers["WWW-Authenticate"] = 'Bearer realm="mcp-sidecar", error="invalid_token"'
    if isinstance(error, TooManyRequests):  # registration: when its window has passed
        headers["Retry-After"] = str(int(REGISTRATION_WINDOW))
    if isinstance(error, TemporarilyUnavailable):
        headers["Retry-After"] = str(error.retry_after)
    return web.json_response(error.body(), status=error.status, headers=headers)


def error_page(request: web.Request, error: OAuthError, status: int = 400) -> web.Response:
    request.app[AUTH_SERVER].metrics.authorizations.labels("error").inc()
    request[REQUEST_INFO].outcome = f"oauth_{error.error}"
    response = aiohttp_jinja2.render_template(
        "error.html", request, {"error": error.error, "description": error.description}, status=status
    )
    response.headers.update(PAGE_HEADERS)
    if isinstance(error, TemporarilyUnavailable):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def render(request: web.Request, outcome: Outcome) -> web.Response:
    """A flow outcome as the browser gets it."""
    if isinstance(outcome, ErrorPage):
        response = error_page(request, outcome.error, outcome.status)
        if outcome.known_user is not None:
            _set_known_user(request, response, outcome.known_user)
        return response
    if isinstance(outcome, Page):
        response = aiohttp_jinja2.render_template(
            outcome.template, request, dict(outcome.context), status=outcome.status
        )
        response.headers.update(PAGE_HEADERS)
        return response
    redirect = (web.HTTPSeeOther if outcome.see_other else web.HTTPFound)(outcome.location, headers=NO_STORE)
    if outcome.binding is not None:
        _set_binding(request, redirect, outcome.binding)
    if outcome.known_user is not None:
        _set_known_user(request, redirect, outcome.known_user)
    raise redirect


def _set_binding(request: web.Request, response: web.StreamResponse, binding: str) -> None:
    # Ties the login to this user agent (RFC 9700 §4.7); Lax so the upstream's top-level
    # redirect back to the callback still carries it.
    response.set_cookie(
        BINDING_COOKIE,
        binding,
        max_age=int(PENDING_LIFETIME),
        path="/oauth",
        httponly=True,
        samesite="Lax",
        secure=request.app[AUTH_SERVER].issuer.startswith("https://"),
    )


def _set_known_user(request: web.Request, response: web.StreamResponse, value: str) -> None:
    # Whose remembered approvals may skip the consent page before the upstream (consent.py):
    # first-party, so it works in an embedded webview; Lax, sent on the top-level GET /authorize.
    server = request.app[AUTH_SERVER]
    response.set_cookie(
        KNOWN_USER_COOKIE,
        value,
        max_age=int(server.settings.consent_lifetime),
        path="/oauth",
        httponly=True,
        samesite="Lax",
        secure=server.issuer.startswith("https://"),
    )


def binding(request: web.Request) -> str | None:
    """The browser-binding cookie of the authorization this browser started, if any."""
    return request.cookies.get(BINDING_COOKIE)


def storage_guard(handler: Handler, endpoint: str | None = None) -> Handler:
    """A store that does not answer is a 503 with Retry-After (JSON at ``endpoint``, else the
    error page), never a 500: the request can be retried once the store is back."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except StorageError as error:
            request.app[AUTH_SERVER].storage_failed(error)
            if endpoint is None:
                return error_page(request, StorageUnavailable(), status=503)
            return oauth_error(request, endpoint, StorageUnavailable())

    return guarded


async def read_body(request: web.Request) -> bytes:
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


async def read_form(request: web.Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body; RFC 6749 §3.2: no parameter twice."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise InvalidRequest("the body must be application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(
            (await read_body(request)).decode("utf-8"), keep_blank_values=True, max_num_fields=50
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("the body is not a valid UTF-8 form") from None
    form = dict(pairs)
    if len(form) != len(pairs):
        raise InvalidRequest("a parameter was given more than once")
    return form


def client_address(request: web.Request) -> str:
    return request.app[AUTH_SERVER].client_address(
        request.remote, request.headers.getall("X-Forwarded-For", [])
    )
