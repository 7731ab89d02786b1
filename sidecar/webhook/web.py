# SPDX-License-Identifier: Apache-2.0
"""The webhook's HTTP side: ``POST /mutate`` (AdmissionReview in, AdmissionReview out) and
``GET /health``, served over HTTPS with the certificate the API server is told to trust."""

from __future__ import annotations

import asyncio
import signal
import ssl

import structlog
from aiohttp import web

from sidecar.webhook.injection import decide
from sidecar.webhook.review import ReviewError, parse_review, render_response
from sidecar.webhook.settings import WebhookConfigError, WebhookSettings

log = structlog.get_logger("sidecar.webhook")

SETTINGS = web.AppKey("settings", WebhookSettings)
# The API server sends a pod of at most its own request limit (3 MiB) in a review.
MAX_BODY = 4 * 1024 * 1024


async def mutate(request: web.Request) -> web.Response:
    try:
        review = parse_review(await request.read())
        decision = decide(review, request.app[SETTINGS])
    except ReviewError as exc:
        log.info("admission_review_malformed", error=str(exc))
        return web.json_response({"error": "malformed_admission_review", "detail": str(exc)}, status=400)
    # Names only: a pod's spec may carry secrets in its env.
    log.info(
        "admission_reviewed",
        uid=review.uid,
        namespace=review.namespace,
        operation=review.operation,
        allowed=decision.allowed,
        injected=bool(decision.patch),
    )
    return web.json_response(render_response(review.uid, decision))


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_webhook_app(settings: WebhookSettings) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app[SETTINGS] = settings
    app.router.add_post("/mutate", mutate)
    app.router.add_get("/health", health)
    return app


def server_tls(cert_file: str, key_file: str) -> ssl.SSLContext:
    """The listener's TLS context (TLS 1.2+), or ``WebhookConfigError`` naming the flag to fix."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except OSError as exc:
        raise WebhookConfigError(
            [f"--tls-cert-file, --tls-key-file: cannot read {exc.filename or cert_file}: {exc.strerror}"]
        ) from None
    except ssl.SSLError:
        raise WebhookConfigError(
            ["--tls-cert-file, --tls-key-file: not a PEM certificate chain and its private key"]
        ) from None
    return context


async def serve_webhook(app: web.Application, host: str, port: int, tls: ssl.SSLContext) -> None:
    """Serve until SIGTERM or SIGINT; ``OSError`` when the port cannot be opened."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=10)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, ssl_context=tls).start()
        log.info("webhook_started", host=host, port=port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()
    log.info("webhook_stopped")
