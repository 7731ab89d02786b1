# SPDX-License-Identifier: Apache-2.0
"""The outermost middleware: a request id, one ``request`` log event per request, the request
metrics, and JSON bodies for the errors aiohttp raises itself (404, 405, 413) and for any
unexpected exception (500).

The request id is set in the logging context (``logging.REQUEST_ID``) for the whole request, so
every event logged while the request is handled carries the same ``request_id`` as its access
event.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from sidecar.observability.logging import REQUEST_ID, HotEvent
from sidecar.observability.metrics import NO_BACKEND, Metrics

log = structlog.get_logger("sidecar.access")
# The access event, written on every request: structlog's chain without its per-call wrapping.
_ACCESS_EVENT = HotEvent("sidecar.access", "request")


@dataclass(slots=True)
class RequestInfo:
    """What the handlers learn about a request, for the access event and metrics."""

    request_id: str
    started: float
    backend: str = NO_BACKEND
    mcp_method: str | None = None
    first_byte: float | None = None
    client_ip: str | None = None
    subject: str | None = None  # the token's sub, once authenticated
    outcome: str | None = None  # why a proxied request ended early (client_disconnect, ...)
    mcp_name: str | None = None  # the tool or prompt name or resource URI (for the audit trail)
    client_id: str | None = None  # the token's client_id (or azp)
    arguments: object = None  # the request's arguments, kept only when the audit wants them


REQUEST_INFO = web.RequestKey("request_info", RequestInfo)
# Request ids: a random per-process prefix and a counter: unique, without a syscall per request.
_PREFIX = secrets.token_hex(8)
_counter = itertools.count(1)


def json_error(status: int, error: str, description: str, **headers: str) -> web.Response:
    return web.json_response(
        {"error": error, "error_description": description}, status=status, headers=headers or None
    )


def access_middleware(metrics: Metrics, *, access_log: bool = True) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        info = RequestInfo(f"{_PREFIX}{next(_counter):08x}", time.perf_counter())
        request[REQUEST_INFO] = info
        status = 500
        # aiohttp runs each request in a task of its own (a copy of the context); the id is
        # still reset on the way out, so nothing logged after this middleware carries it.
        bound = REQUEST_ID.set(info.request_id)
        try:
            try:
                response: web.StreamResponse = await handler(request)
                status = response.status
            except web.HTTPException as exc:
                status = exc.status
                if status < 400:
                    raise  # a redirect raised by a handler goes out as it is
                response = json_error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
            except asyncio.CancelledError:
                status = 499  # the handler was cancelled, mostly because the client left (nginx's code)
                info.outcome = info.outcome or "cancelled"
                raise
            except Exception as exc:
                if isinstance(exc, ConnectionResetError) and _client_gone(request):
                    # A write found the connection closing: the client left, which is no bug.
                    status = 499
                    info.outcome = info.outcome or "client_disconnect"
                    response = web.Response(status=status)  # never sent: nobody is left to read it
                else:
                    status = 500
                    response = _internal_error(request, info, metrics)
            finally:
                ended = time.perf_counter()
                metrics.count_request(info.backend, request.method, status)
                if info.backend != NO_BACKEND:
                    metrics.observe_duration(info.backend, (info.first_byte or ended) - info.started)
                if access_log:
                    _log_request(request, info, status, ended)
        finally:
            REQUEST_ID.reset(bound)
        if not response.prepared:
            response.headers.setdefault("X-Request-Id", info.request_id)
        return response

    return middleware


def _client_gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


def _internal_error(request: web.Request, info: RequestInfo, metrics: Metrics) -> web.Response:
    """A bug or an unforeseen failure: logged with its traceback, answered with the request id only.

    SECURITY: the exception's message and traceback stay in the log; they may name internal
    paths, hosts or data of other requests (CWE-209).
    """
    info.outcome = "internal_error"
    metrics.internal_errors.labels(info.backend).inc()
    log.exception("internal_error", method=request.method, path=request.path, backend=info.backend)
    if request.writer.output_size > 0 and request.transport is not None:
        # The response head is already out: a second response cannot follow. Closing the
        # connection tells the client the response is truncated; writing this one then fails
        # with a ConnectionError, which aiohttp expects there.
        request.transport.close()
    return json_error(
        500, "internal_error", f"the sidecar failed to handle this request (request id {info.request_id})"
    )


def _log_request(request: web.Request, info: RequestInfo, status: int, ended: float) -> None:
    _ACCESS_EVENT.log(
        {
            "request_id": info.request_id,
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round((ended - info.started) * 1000, 3),
            "backend": info.backend,
            "mcp_method": info.mcp_method,
            "client_ip": info.client_ip or request.remote,
            "subject": info.subject,
            "outcome": info.outcome,
        }
    )
