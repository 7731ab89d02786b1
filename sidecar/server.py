# SPDX-License-Identifier: Apache-2.0
"""Running the app: listeners with a request-head deadline (and the Server-header rule for the
answers aiohttp's parser gives), and the graceful shutdown sequence.

Shutdown (SIGTERM/SIGINT): ``/readyz`` turns 503 at once; after ``server.shutdown_delay`` the
listener stops and idle connections close; in-flight requests get ``server.drain_timeout``; then
the remaining handlers (long-lived streams) are cancelled, which closes their backend requests;
last, the shared resources are closed by the app's cleanup contexts.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from sidecar.app import METRICS, READINESS, apply_server_header, create_app, create_metrics_app
from sidecar.config import Settings
from sidecar.listen import ListenError
from sidecar.observability.metrics import Metrics

_BACKLOG = 4096
log = structlog.get_logger("sidecar.server")


class _ProtocolErrorResponse(web.Response):
    """The answer to a request aiohttp rejected before routing (malformed head, and the like).

    No app signal runs for it, so ``server.server_header`` is applied here, after aiohttp's
    defaults (this hooks a private method; ``test_protocol_error_has_no_server_header`` guards it).
    """

    server_header: str = ""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        apply_server_header(self.headers, self.server_header)


class _HeadDeadlineHandler(RequestHandler):
    """aiohttp's connection protocol with a request-head deadline.

    SECURITY (slowloris, attack checklist §8): aiohttp has no deadline for receiving a request
    head; its keep-alive timer only closes connections idle *between* requests. Here the first
    bytes of a new request pull that timer in to ``header_timeout``; once the head is parsed the
    normal flow resumes. This leans on RequestHandler internals, so aiohttp is pinned to a minor
    version and ``test_slow_header_client_is_disconnected`` guards the behaviour.
    """

    header_timeout: float = 10.0
    server_header: str = ""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        response = super().handle_error(request, status, exc, message)
        assert isinstance(response, web.Response)  # noqa: S101 - aiohttp builds a plain Response
        answer = _ProtocolErrorResponse(status=response.status, body=response.body, headers=response.headers)
        answer.server_header = self.server_header
        answer.force_close()
        return answer

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # SECURITY: a parser error's message quotes the offending request bytes, which may be
        # an Authorization or Cookie line; log its kind only, without message or traceback.
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            log.info("bad_request", error=type(exc).__name__, status=exc.code)
            return
        super().log_exception(*args, **kwargs)

    def data_received(self, data: bytes) -> None:
        waiting = self._waiter is not None and not self._waiter.done() and not self._messages
        super().data_received(data)
        if waiting and self._waiter is not None and not self._waiter.done() and self.transport is not None:
            deadline = self._loop.time() + self.header_timeout
            if deadline < self._next_keepalive_close_time:
                self._next_keepalive_close_time = deadline
                if self._keepalive_handle is not None:
                    self._keepalive_handle.cancel()
                self._keepalive_handle = self._loop.call_at(deadline, self._process_keepalive)


class _HeadDeadlineServer(web.Server):
    header_timeout: float = 10.0
    server_header: str = ""

    def __call__(self) -> RequestHandler:
        handler = _HeadDeadlineHandler(self, loop=self._loop, **self._kwargs)
        handler.header_timeout = self.header_timeout
        handler.server_header = self.server_header
        return handler


class _Runner(web.AppRunner):
    def __init__(
        self, app: web.Application, *, header_timeout: float, server_header: str, **kwargs: Any
    ) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout = header_timeout
        self._server_header = server_header

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _HeadDeadlineServer  # same state, our protocol factory
        server.header_timeout = self._header_timeout  # type: ignore[attr-defined]
        server.server_header = self._server_header  # type: ignore[attr-defined]
        return server


class Sidecar:
    """The running sidecar: ``start()``, then ``shutdown()`` (or ``run_until_signal()``)."""

    def __init__(self, settings: Settings, app: web.Application | None = None) -> None:
        self.settings = settings
        self.app = app or create_app(settings)
        server = settings.server
        self._runners: list[web.AppRunner] = [
            _Runner(
                self.app,
                header_timeout=server.header_timeout,
                server_header=server.server_header,
                handle_signals=False,
                access_log=None,
                keepalive_timeout=server.idle_timeout,
                shutdown_timeout=server.drain_timeout,
                handler_cancellation=True,
            )
        ]
        if server.metrics_port is not None:
            self._runners.append(
                _Runner(
                    create_metrics_app(self.app[METRICS], server_header=server.server_header),
                    header_timeout=server.header_timeout,
                    server_header=server.server_header,
                    access_log=None,
                    handle_signals=False,
                )
            )
        self.ports: list[int] = []

    async def start(self) -> None:
        """Listen on every port, or raise ``ListenError`` with nothing left open."""
        server = self.settings.server
        listeners = [("server.port", server.port)]
        if server.metrics_port is not None:
            listeners.append(("server.metrics_port", server.metrics_port))
        for index, (runner, (key, port)) in enumerate(zip(self._runners, listeners, strict=True)):
            await runner.setup()
            try:
                # Workers share the port: the kernel spreads new connections over them.
                # A deep accept queue: SSE clients reconnect in bursts (after a restart, say); the
                # kernel caps it at net.core.somaxconn.
                await web.TCPSite(
                    runner, server.host, port, backlog=_BACKLOG, reuse_port=server.workers > 1
                ).start()
            except OSError as exc:
                # The app's cleanup contexts already opened client sessions and probes: close
                # them, so a failed start leaves no unclosed session and no task behind.
                for started in self._runners[: index + 1]:
                    await started.cleanup()
                raise ListenError(server.host, port, key, exc) from None
            self.ports.append(runner.addresses[0][1])
        log.info(
            "sidecar_started",
            host=server.host,
            port=self.ports[0],
            backends=[b.name for b in self.settings.backends],
        )

    async def shutdown(self) -> None:
        self.app[READINESS].start_draining()
        log.info("sidecar_draining", drain_timeout_s=self.settings.server.drain_timeout)
        await asyncio.sleep(self.settings.server.shutdown_delay)
        for runner in self._runners:  # the metrics listener, if any, stays up through the drain
            await runner.cleanup()
        log.info("sidecar_stopped")

    async def run_until_signal(self, on_listening: Callable[[], None] | None = None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        if on_listening is not None:
            on_listening()
        await stop.wait()
        await self.shutdown()


def run(
    settings: Settings, on_listening: Callable[[], None] | None = None, *, metrics_dir: str | None = None
) -> None:
    """Run until SIGTERM/SIGINT, on uvloop when it is installed; ``on_listening`` is called once
    every port is open (``ListenError`` instead when one cannot be). A worker of several passes
    ``metrics_dir``, where every worker's metrics are written and ``/metrics`` reads them all."""
    app = None if metrics_dir is None else create_app(settings, metrics=Metrics(multiprocess_dir=metrics_dir))
    try:
        import uvloop  # noqa: PLC0415 - optional speed-up
    except ImportError:
        asyncio.run(Sidecar(settings, app).run_until_signal(on_listening))
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(Sidecar(settings, app).run_until_signal(on_listening))
