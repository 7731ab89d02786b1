# SPDX-License-Identifier: Apache-2.0
"""The browser side of the authorization code flow: /authorize, the login and consent pages,
and the upstream callback. Each handler parses the request, calls ``AuthorizationFlow`` and
renders what it returns; the order of the steps and their security rules live in ``flow``."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler

from sidecar.authserver.errors import OAuthError
from sidecar.authserver.flow import PageName
from sidecar.authserver.web.common import AUTH_SERVER, binding, client_address, error_page, read_form, render


async def authorize(request: web.Request) -> web.StreamResponse:
    query = request.rel_url.query
    params: dict[str, Sequence[str]] = {name: query.getall(name) for name in query}
    return render(request, await request.app[AUTH_SERVER].flow.authorize(params))


def page(template: PageName) -> Handler:
    """GET of the login or consent page."""

    async def handler(request: web.Request) -> web.StreamResponse:
        flow = request.app[AUTH_SERVER].flow
        return render(request, await flow.page(template, request.query.get("request", ""), binding(request)))

    return handler


async def consent_submit(request: web.Request) -> web.StreamResponse:
    try:
        form = await read_form(request)
    except OAuthError as error:
        return error_page(request, error)
    return render(request, await request.app[AUTH_SERVER].flow.consent(form, binding(request)))


async def login_submit(request: web.Request) -> web.StreamResponse:
    try:
        form = await read_form(request)
    except OAuthError as error:
        return error_page(request, error)
    flow = request.app[AUTH_SERVER].flow
    return render(request, await flow.login(form, binding(request), client_address(request)))


async def callback(request: web.Request) -> web.StreamResponse:
    """The upstream provider sends the user back here."""
    return render(
        request, await request.app[AUTH_SERVER].flow.callback(dict(request.query), binding(request))
    )
