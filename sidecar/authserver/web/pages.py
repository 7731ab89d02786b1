# SPDX-License-Identifier: Apache-2.0
"""The browser side of the authorization code flow: /authorize, the login and consent pages,
and the upstream callback. Each handler parses the request, calls ``AuthorizationFlow`` and
renders what it returns; the order of the steps and their security rules live in ``flow``."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler

from sidecar.authserver.errors import AccessDenied, OAuthError
from sidecar.authserver.flow import PageName
from sidecar.authserver.web.common import (
    AUTH_SERVER,
    KNOWN_USER_COOKIE,
    binding,
    client_address,
    error_page,
    read_form,
    render,
)


async def authorize(request: web.Request) -> web.StreamResponse:
    query = request.rel_url.query
    params: dict[str, Sequence[str]] = {name: query.getall(name) for name in query}
    flow = request.app[AUTH_SERVER].flow
    return render(request, await flow.authorize(params, request.cookies.get(KNOWN_USER_COOKIE)))


def page(template: PageName) -> Handler:
    """GET of the login or consent page."""

    async def handler(request: web.Request) -> web.StreamResponse:
        flow = request.app[AUTH_SERVER].flow
        return render(request, await flow.page(template, request.query.get("request", ""), binding(request)))

    return handler


def _cross_site(request: web.Request) -> web.Response | None:
    """SECURITY (GHSA-6x8h-498w-gv8c): a form another site posted, as the browser says through
    Fetch Metadata, never approves or logs in, whatever cookies came with it."""
    if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
        return error_page(request, AccessDenied("this form was posted from another site"), status=403)
    return None


async def _posted_form(request: web.Request) -> dict[str, str] | web.Response:
    """The fields of a same-site form post, or the error page to answer instead."""
    if (refused := _cross_site(request)) is not None:
        return refused
    try:
        return await read_form(request)
    except OAuthError as error:
        return error_page(request, error)


async def consent_submit(request: web.Request) -> web.StreamResponse:
    form = await _posted_form(request)
    if isinstance(form, web.Response):
        return form
    return render(request, await request.app[AUTH_SERVER].flow.consent(form, binding(request)))


async def login_submit(request: web.Request) -> web.StreamResponse:
    form = await _posted_form(request)
    if isinstance(form, web.Response):
        return form
    flow = request.app[AUTH_SERVER].flow
    return render(request, await flow.login(form, binding(request), client_address(request)))


async def callback(request: web.Request) -> web.StreamResponse:
    """The upstream provider sends the user back here."""
    return render(
        request, await request.app[AUTH_SERVER].flow.callback(dict(request.query), binding(request))
    )
