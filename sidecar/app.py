# SPDX-License-Identifier: Apache-2.0
"""``create_app(settings)``: the routes, the typed application state and the lifecycle of every
shared resource (one ``cleanup_ctx`` generator each)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sidecar.authn.authenticator import Authenticator
from sidecar.authn.keys import KeyProvider
from sidecar.authn.web import add_metadata_routes, build_authn
from sidecar.authserver import web as authserver_web
from sidecar.authserver.policy import UPSTREAM_TIMEOUT
from sidecar.authserver.server import plan_auth_server
from sidecar.authz.gate import Gate
from sidecar.config import ConfigError, Settings
from sidecar.config.rules_authz import cedar_authz, compile_authz
from sidecar.config.schema import OidcIncoming
from sidecar.observability.access import access_middleware, json_error
from sidecar.observability.audit import Auditor, JsonLines, Sink
from sidecar.observability.health import Readiness, probe_forever
from sidecar.observability.metrics import Metrics
from sidecar.observability.spans import NO_TRACING, RequestTracing
from sidecar.outbound import OutboundClient
from sidecar.outgoing.build import build_outgoing, needs_outbound
from sidecar.outgoing.upstream_tokens import UpstreamTokenSource
from sidecar.proxy.forwarded import ProxyTrust
from sidecar.proxy.forwarder import Forwarder, expect_later
from sidecar.proxy.legacy import LegacySessions
from sidecar.proxy.origin import HostPolicy, OriginPolicy
from sidecar.proxy.pool import BackendPool
from sidecar.proxy.routing import routes_for
from sidecar.ratelimit.limiter import RateLimiter
from sidecar.ratelimit.store import MemoryBuckets
from sidecar.tasks import BackgroundTasks

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
READINESS = web.AppKey("readiness", Readiness)
CLIENT_SESSION = web.AppKey("client_session", aiohttp.ClientSession)


def create_app(
    settings: Settings,
    *,
    metrics: Metrics | None = None,
    key_provider: KeyProvider | None = None,
    audit_sink: Sink | None = None,
) -> web.Application:
    """The sidecar app. ``key_provider`` is the in-process key tier (the embedded authorization
    server plugs its signing keys in here); ``audit_sink`` receives the audit events instead of
    ``audit.log_file`` (tests)."""
    metrics = metrics or Metrics()
    middlewares = [access_middleware(metrics, access_log=settings.server.access_log)]
    tracing: RequestTracing = NO_TRACING
    traced = None
    if settings.telemetry.tracing.enabled:
        # The one check: with tracing off, the tracing module is never imported and no request
        # pays more than the forwarder's two do-nothing hooks (docs/benchmarks.md, 9).
        from sidecar.observability import tracing as otel  # noqa: PLC0415 - the optional extra

        tracing = traced = otel.Tracing(settings)
        middlewares.append(otel.tracing_middleware(traced))
    app = web.Application(middlewares=middlewares, client_max_size=settings.server.max_request_body)
    if traced is not None:
        app[otel.TRACING] = traced
        app.cleanup_ctx.append(traced.lifecycle)  # first in: its flush runs after the others closed
    app.on_response_prepare.append(server_header_hook(settings.server.server_header))
    app[SETTINGS] = settings
    app[METRICS] = metrics
    app[READINESS] = Readiness(settings.backends, metrics)
    # Mode B: checked here, before anything listens; any error stops start-up (AuthServerError).
    # Its outbound client and store are opened in its cleanup context (authserver.web).
    auth_server = plan_auth_server(settings, metrics) if settings.auth_server is not None else None
    if auth_server is not None:
        key_provider = key_provider or auth_server.keys
        app[READINESS].add_check(lambda: authserver_web.not_ready(app))
    authn = build_authn(
        settings,
        metrics,
        key_provider,
        authserver_web.session_revoked_hook(app) if auth_server is not None else None,
        own_issuer=auth_server is not None,
    )
    app.cleanup_ctx.append(_client_session)
    app.cleanup_ctx.append(_backend_probes)
    if authn is not None:
        app.cleanup_ctx.append(authn.lifecycle)
        validator = authn.validator
        app[READINESS].add_check(lambda: None if validator.keys_ready else "keys: no usable signing keys yet")

    app.router.add_get("/health", _health)
    app.router.add_get("/readyz", _readyz)
    if settings.server.metrics_port is None:
        app.router.add_get("/metrics", metrics_handler(metrics))
    if authn is not None:
        add_metadata_routes(app, settings, authn)
    if auth_server is not None:
        authserver_web.add_routes(app, auth_server)
    # RFC 8615 space: only documents the sidecar serves exist; everything else is a JSON 404.
    app.router.add_route("*", "/.well-known/{tail:.*}", _well_known_404)
    upstream_tokens = (
        UpstreamTokenSource(lambda: app[authserver_web.AUTH_SERVER], metrics)
        if auth_server is not None
        else None
    )
    if upstream_tokens is not None:
        app.cleanup_ctx.append(_closing(upstream_tokens))
    outbound = None
    pool = BackendPool()
    app.cleanup_ctx.append(_closing(pool))
    if needs_outbound(settings.backends):
        outbound = OutboundClient(timeout=UPSTREAM_TIMEOUT)  # its sessions open on first use
        app.cleanup_ctx.append(_closing(outbound))
    _add_backend_routes(
        app,
        settings,
        metrics,
        authn.authenticator if authn is not None else None,
        gate=_gate(settings, metrics),
        limiter=_limiter(settings, metrics),
        audit=_auditor(app, settings, audit_sink),
        pool=pool,
        upstream_tokens=upstream_tokens,
        outbound=outbound,
        tracing=tracing,
    )
    return app


def _auditor(app: web.Application, settings: Settings, sink: Sink | None) -> Auditor | None:
    if not settings.audit.enabled:
        return None
    if sink is None:
        lines = JsonLines(settings.audit.log_file)
        sink = lines

        async def close_audit_file(_app: web.Application) -> AsyncIterator[None]:
            yield
            lines.close()

        app.cleanup_ctx.append(close_audit_file)
    return Auditor(settings.audit, sink)


def _limiter(settings: Settings, metrics: Metrics) -> RateLimiter | None:
    auth = settings.incoming_auth
    if not isinstance(auth, OidcIncoming) or auth.rate_limits is None:
        return None
    return RateLimiter(auth.rate_limits, MemoryBuckets(), metrics)


def _gate(settings: Settings, metrics: Metrics) -> Gate | None:
    authz = cedar_authz(settings)
    if authz is None:
        return None
    compiled, issues = compile_authz(settings)  # the loader checked them: this does not fail
    if compiled is None:
        raise ConfigError(issues)
    return Gate(
        compiled, group_claim=authz.group_claim_name, role_claim=authz.role_claim_name, metrics=metrics
    )


def create_metrics_app(metrics: Metrics, *, server_header: str = "") -> web.Application:
    """The app on ``server.metrics_port``: ``/metrics`` only."""
    app = web.Application()
    app.on_response_prepare.append(server_header_hook(server_header))
    app.router.add_get("/metrics", metrics_handler(metrics))
    return app


def apply_server_header(headers: CIMultiDict[str], value: str) -> None:
    """``server.server_header`` in place of aiohttp's ``Python/3.x aiohttp/3.x`` (or a backend's)."""
    # SECURITY: exact versions tell an attacker which known flaws to try (OWASP WSTG-INFO-02).
    headers.popall("Server", None)
    if value:
        headers["Server"] = value


def server_header_hook(value: str) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An ``on_response_prepare`` signal handler: it runs after aiohttp set its defaults, on every
    response of the app (proxied, error, metrics, authorization server)."""

    async def hook(_request: web.Request, response: web.StreamResponse) -> None:
        apply_server_header(response.headers, value)

    return hook


def _add_backend_routes(
    app: web.Application,
    settings: Settings,
    metrics: Metrics,
    authenticator: Authenticator | None,
    *,
    gate: Gate | None,
    limiter: RateLimiter | None,
    audit: Auditor | None,
    pool: BackendPool,
    upstream_tokens: UpstreamTokenSource | None,
    outbound: OutboundClient | None,
    tracing: RequestTracing,
) -> None:
    server = settings.server
    trust = ProxyTrust(server.trusted_proxies)
    origins = OriginPolicy(server.allowed_origins, server.public_url)
    hosts = HostPolicy(server.allowed_hosts)
    secrets = settings.secrets.backend_secrets
    for index, backend in enumerate(settings.backends):
        secret = secrets[index] if index < len(secrets) else None
        outgoing = build_outgoing(
            backend,
            secret,
            metrics,
            auth_server=settings.auth_server,
            upstream_tokens=upstream_tokens,
            outbound=outbound,
        )
        sessions = LegacySessions() if gate is not None and backend.sse_path is not None else None
        for route in routes_for(backend):
            forwarder = Forwarder(
                route,
                pool=pool,
                metrics=metrics,
                trust=trust,
                origins=origins,
                hosts=hosts,
                authenticator=authenticator,
                outgoing=outgoing,
                max_body=server.max_request_body,
                idle_timeout=server.idle_timeout,
                gate=gate,
                limiter=limiter,
                audit=audit,
                sessions=sessions,
                tracing=tracing,
            )
            for pattern in route.patterns():
                app.router.add_route("*", pattern, forwarder.handle, expect_handler=expect_later)


async def _client_session(app: web.Application) -> AsyncIterator[None]:
    # The backends' HTTP probes only: proxied requests go through the backend pool
    # (proxy/pool.py). No cookie jar (a backend cookie is never kept), nothing decoded, no
    # automatic headers; each probe sets its own timeout.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=30)
    session = aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=None),
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
    )
    app[CLIENT_SESSION] = session
    yield
    await session.close()


def _closing(
    resource: OutboundClient | UpstreamTokenSource | BackendPool,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context that closes ``resource`` on shutdown (it opens nothing before use)."""

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        yield
        await resource.close()

    return lifecycle


async def _backend_probes(app: web.Application) -> AsyncIterator[None]:
    tasks = BackgroundTasks()
    for backend in app[SETTINGS].backends:
        tasks.spawn(probe_forever(backend, app[CLIENT_SESSION], app[READINESS]), name=f"probe:{backend.name}")
    yield
    await tasks.close()


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    reasons = request.app[READINESS].reasons()
    if reasons:
        return web.json_response(
            {"status": "unavailable", "reasons": reasons}, status=503, headers={"Cache-Control": "no-store"}
        )
    return web.json_response({"status": "ready"}, headers={"Cache-Control": "no-store"})


def metrics_handler(metrics: Metrics) -> Handler:
    async def handler(_request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(metrics.exposition))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return handler


async def _well_known_404(request: web.Request) -> web.Response:
    return json_error(404, "not_found", f"{request.path} is not served here")
