# SPDX-License-Identifier: Apache-2.0
"""The authorization server's routes (aiohttp): parse, call, render. Mounted only in Mode B,
without bearer authentication (the authorization server has its own rules).

``common`` (app key, bodies, error rendering), ``endpoints`` (the OAuth JSON endpoints) and
``pages`` (the browser flow over ``AuthorizationFlow``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp_jinja2
import jinja2
from aiohttp import web

from sidecar.authserver import metadata
from sidecar.authserver.server import AuthServer
from sidecar.authserver.web import endpoints, pages
from sidecar.authserver.web.common import AUTH_SERVER, storage_guard
from sidecar.public_documents import cors_preflight, public_json
from sidecar.tasks import BackgroundTasks

__all__ = ["AUTH_SERVER", "add_routes"]


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
    app.router.add_post(metadata.REGISTER_PATH, storage_guard(endpoints.register_client, "register"))
    app.router.add_route("OPTIONS", metadata.REGISTER_PATH, cors_preflight)
    # HEAD must not start a login.
    app.router.add_get(metadata.AUTHORIZE_PATH, storage_guard(pages.authorize), allow_head=False)
    app.router.add_post(metadata.TOKEN_PATH, storage_guard(endpoints.token, "token"))
    app.router.add_route("OPTIONS", metadata.TOKEN_PATH, cors_preflight)
    app.router.add_post(metadata.REVOKE_PATH, storage_guard(endpoints.revoke, "revoke"))
    app.router.add_route("OPTIONS", metadata.REVOKE_PATH, cors_preflight)
    if server.flow.uses("form"):
        app.router.add_get(metadata.LOGIN_PATH, storage_guard(pages.page("login.html")))
        app.router.add_post(metadata.LOGIN_PATH, storage_guard(pages.login_submit))
    if server.flow.uses("redirect"):
        app.router.add_get(metadata.CONSENT_PATH, storage_guard(pages.page("consent.html")))
        app.router.add_post(metadata.CONSENT_PATH, storage_guard(pages.consent_submit))
        app.router.add_get(metadata.CALLBACK_PATH, storage_guard(pages.callback))
    app.cleanup_ctx.append(_lifecycle)


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    tasks = BackgroundTasks()
    tasks.spawn(app[AUTH_SERVER].probe_storage(), name="probe:storage")
    yield
    await tasks.close()
    await app[AUTH_SERVER].close()
