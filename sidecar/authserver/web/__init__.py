# SPDX-License-Identifier: Apache-2.0
"""The authorization server's routes (aiohttp): parse, call, render. Mounted only in Mode B,
without bearer authentication (the authorization server has its own rules).

``common`` (app key, bodies, error rendering), ``endpoints`` (the OAuth JSON endpoints) and
``pages`` (the browser flow over ``AuthorizationFlow``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web

from sidecar.authserver import metadata
from sidecar.authserver.server import AuthServerPlan, open_auth_server
from sidecar.authserver.web import endpoints, pages
from sidecar.authserver.web.common import AUTH_SERVER, storage_guard
from sidecar.public_documents import cors_preflight, public_json
from sidecar.tasks import BackgroundTasks

__all__ = ["AUTH_SERVER", "add_routes", "not_ready", "session_revoked_hook"]


def add_routes(app: web.Application, server: AuthServerPlan) -> None:
    """The routes (decided by the plan alone) and the lifecycle that opens the server."""
    aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("sidecar.authserver", "templates"), autoescape=True)
    document = metadata.metadata(
        server.issuer,
        server.origin,
        server.config.scopes_supported,
        server.keys.algorithm,
        cimd=server.config.cimd.enabled,
        dcr=server.config.dcr.enabled,
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
    app.router.add_get(metadata.USERINFO_PATH, storage_guard(endpoints.userinfo, "userinfo"))
    app.router.add_post(metadata.USERINFO_PATH, storage_guard(endpoints.userinfo, "userinfo"))
    app.router.add_route("OPTIONS", metadata.USERINFO_PATH, cors_preflight)
    app.router.add_route("OPTIONS", metadata.REVOKE_PATH, cors_preflight)
    # Every login asks for consent: before the upstream (oidc, oauth2) or after the login form.
    app.router.add_get(metadata.CONSENT_PATH, storage_guard(pages.page("consent.html")))
    app.router.add_post(metadata.CONSENT_PATH, storage_guard(pages.consent_submit))
    if server.uses("form"):
        app.router.add_get(metadata.LOGIN_PATH, storage_guard(pages.page("login.html")))
        app.router.add_post(metadata.LOGIN_PATH, storage_guard(pages.login_submit))
    if server.uses("redirect"):
        app.router.add_get(metadata.CALLBACK_PATH, storage_guard(pages.callback))
    app.cleanup_ctx.append(_lifecycle(server))


def _lifecycle(plan: AuthServerPlan) -> Callable[[web.Application], AsyncIterator[None]]:
    """Opens the authorization server (outbound client, store) before the app listens, probes
    the store for /readyz while it runs, and closes everything on shutdown."""

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with open_auth_server(plan) as server:
            app[AUTH_SERVER] = server
            tasks = BackgroundTasks()
            tasks.spawn(server.probe_storage(), name="probe:storage")
            yield
            await tasks.close()

    return lifecycle


def not_ready(app: web.Application) -> str | None:
    """The authorization server's /readyz reason, once it is open."""
    return app[AUTH_SERVER].not_ready() if AUTH_SERVER in app else "authorization server: not open"


def session_revoked_hook(app: web.Application) -> Callable[[str], Awaitable[bool]]:
    """The token validator's revocation hook, answered by the server opened at start-up."""

    async def session_revoked(session_id: str) -> bool:
        return await app[AUTH_SERVER].session_revoked(session_id)

    return session_revoked
