# SPDX-License-Identifier: Apache-2.0
"""``server.workers: N`` above 1: a supervisor (this process) and N forked workers.

Each worker is a whole sidecar, every route, binding ``server.port`` (and ``server.metrics_port``)
with ``SO_REUSEPORT``, so the kernel spreads new connections over them. The supervisor serves
nothing. It:

- checks that the ports are free (``SO_REUSEPORT`` would let a second sidecar of the same user
  share them silently), then starts the workers and waits until each listens; a worker that exits
  before it listens stops them all, with its exit code (1, or 3 when it could not listen);
- makes the directory every worker writes its metric samples to (prometheus-client's multiprocess
  mode), so ``/metrics`` on any worker shows the sum, and removes it at exit;
- restarts a worker that exits while nothing asked it to, at most ``RESTART_LIMIT`` times within
  ``RESTART_WINDOW`` seconds; one more and it stops the others and exits ``EXIT_WORKERS``, so a
  crash loop ends in the orchestrator's back-off instead of spinning here;
- forwards SIGTERM/SIGINT to every worker, which drain together, and exits 0 once all stopped
  cleanly; a worker still running ``shutdown_delay + drain_timeout + STOP_GRACE`` seconds later is
  killed (exit 1).

The loop is synchronous (``selectors`` on a self-pipe the signal handlers wake, and a pipe the
workers report on once they listen): no event loop runs in the supervisor, so forking is safe.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import structlog

from sidecar.config import Settings
from sidecar.listen import ListenError

EXIT_WORKERS = 4
RESTART_LIMIT = 5
RESTART_WINDOW = 60.0
STOP_GRACE = 10.0
"""Seconds past the drain for closing storage and the authorization server."""

_PR_SET_PDEATHSIG = 1
_HANDLED = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGCHLD})

Worker = Callable[[Callable[[], None], str], int]
"""Runs one worker in the forked process: called with its ``on_listening`` callback and the
metrics directory, returns the worker's exit code."""

log = structlog.get_logger("sidecar.supervisor")


def supervise(settings: Settings, worker: Worker) -> int:
    """Run ``server.workers`` workers until SIGTERM/SIGINT; the exit code of the whole."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before the supervisor chose its mode")
    check_ports_free(settings)
    metrics_dir = tempfile.mkdtemp(prefix="mcp-sidecar-metrics-")
    # prometheus-client chooses where values live when it is first imported (the workers import
    # it after the fork), from this variable: set it before, and nothing here imports it earlier.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        return _Supervisor(settings, worker, metrics_dir).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def check_ports_free(settings: Settings) -> None:
    """``ListenError`` when a port is taken: bound here without ``SO_REUSEPORT``, which conflicts
    with any socket on it, even another sidecar's that set the option."""
    server = settings.server
    ports = [("server.port", server.port)]
    if server.metrics_port is not None:
        ports.append(("server.metrics_port", server.metrics_port))
    for key, port in ports:
        try:
            for family, _type, _proto, _name, address in socket.getaddrinfo(
                server.host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            ):
                socket.create_server(address, family=family).close()
        except OSError as exc:
            raise ListenError(server.host, port, key, exc) from None


@dataclass
class _Child:
    slot: int
    pid: int
    listening: bool = False


class _Supervisor:
    def __init__(self, settings: Settings, worker: Worker, metrics_dir: str) -> None:
        self._settings = settings
        self._worker = worker
        self._metrics_dir = metrics_dir
        self._children: dict[int, _Child] = {}
        self._restarts: deque[float] = deque()
        self._started = False  # every worker of the first start listened
        self._stop_signal: int | None = None
        self._stopping = False
        self._deadline: float | None = None
        self._exit_code = 0
        self._ready_r, self._ready_w = os.pipe()
        self._wake_r, self._wake_w = os.pipe()
        self._pending = b""
        self._selector: selectors.BaseSelector | None = None

    def run(self) -> int:
        for fd in (self._wake_r, self._wake_w, self._ready_r):
            os.set_blocking(fd, False)
        with selectors.DefaultSelector() as selector:
            self._selector = selector
            selector.register(self._wake_r, selectors.EVENT_READ)
            selector.register(self._ready_r, selectors.EVENT_READ)
            signal.set_wakeup_fd(self._wake_w)
            signal.signal(signal.SIGTERM, self._on_stop_signal)
            signal.signal(signal.SIGINT, self._on_stop_signal)
            signal.signal(signal.SIGCHLD, _wake_only)
            for slot in range(self._settings.server.workers):
                self._spawn(slot)
            while self._children:
                timeout = None if self._deadline is None else max(0.0, self._deadline - time.monotonic())
                for key, _events in selector.select(timeout):
                    if key.fd == self._wake_r:
                        _drain(self._wake_r)
                    else:
                        self._read_ready()
                self._reap()
                if self._stop_signal is not None and not self._stopping:
                    log.info("supervisor_stopping", signal=signal.Signals(self._stop_signal).name)
                    self._stop()
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    self._kill_stragglers()
        for fd in (self._ready_r, self._ready_w, self._wake_r, self._wake_w):
            os.close(fd)
        log.info("supervisor_stopped", exit_code=self._exit_code)
        return self._exit_code

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stop_signal = signum

    def _spawn(self, slot: int) -> None:
        # Buffered output would be written twice, once by each process.
        sys.stdout.flush()
        sys.stderr.flush()
        supervisor = os.getpid()
        # Blocked across the fork: a SIGTERM arriving then must not run the supervisor's handler
        # in the child (it would be lost there); the child unblocks once its own are in place.
        signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
        try:
            pid = os.fork()
            if pid == 0:
                os._exit(self._run_worker(slot, supervisor))
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        self._children[pid] = _Child(slot, pid)
        log.info("worker_started", worker=slot, pid=pid)

    def _run_worker(self, slot: int, supervisor: int) -> int:
        """In the forked process: the supervisor's signal set-up undone, then one sidecar."""
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            for sig in _HANDLED:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
            if self._selector is not None:
                self._selector.close()
            for fd in (self._ready_r, self._wake_r, self._wake_w):
                os.close(fd)
            _stop_with(supervisor)
            pid = os.getpid()
            structlog.contextvars.bind_contextvars(worker=slot, pid=pid)

            def listening() -> None:
                os.write(self._ready_w, f"{pid}\n".encode())

            code = self._worker(listening, self._metrics_dir)
        except BaseException:  # the worker's last word; the supervisor decides what follows
            log.exception("worker_failed", worker=slot)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        return code

    def _read_ready(self) -> None:
        with contextlib.suppress(BlockingIOError):
            self._pending += os.read(self._ready_r, 4096)
        *lines, self._pending = self._pending.split(b"\n")
        for line in lines:
            child = self._children.get(int(line))
            if child is not None:
                child.listening = True
        if not self._started and all(child.listening for child in self._children.values()):
            self._started = True
            log.info("supervisor_started", workers=len(self._children), port=self._settings.server.port)

    def _reap(self) -> None:
        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self._children.pop(pid, None)
            if child is None:
                continue
            self._exited(child, os.waitstatus_to_exitcode(status))

    def _exited(self, child: _Child, code: int) -> None:
        from prometheus_client.multiprocess import mark_process_dead  # noqa: PLC0415 - after the env is set

        # Its live gauges (active streams...) leave the sums; its counters stay in them.
        mark_process_dead(child.pid, self._metrics_dir)  # type: ignore[no-untyped-call]
        reason = {"exit_code": code} if code >= 0 else {"signal": signal.Signals(-code).name}
        if self._stopping:
            log.info("worker_stopped", worker=child.slot, pid=child.pid, **reason)
            # One that never listened lost nothing, even if the SIGTERM came before its handler.
            if code != 0 and child.listening:
                self._fail(1)
            return
        log.warning("worker_exited", worker=child.slot, pid=child.pid, **reason)
        if not self._started:
            # It could not start (keys, authorization server, port): another try would fail the same.
            self._fail(code if code in (1, 3) else 1)
            self._stop()
            return
        now = time.monotonic()
        while self._restarts and self._restarts[0] <= now - RESTART_WINDOW:
            self._restarts.popleft()
        if len(self._restarts) >= RESTART_LIMIT:
            log.error("workers_crash_looping", restarts=len(self._restarts), window_s=RESTART_WINDOW)
            self._fail(EXIT_WORKERS)
            self._stop()
            return
        self._restarts.append(now)
        self._spawn(child.slot)

    def _stop(self) -> None:
        """SIGTERM to every worker: each drains within ``drain_timeout`` as a single process does."""
        self._stopping = True
        server = self._settings.server
        self._deadline = time.monotonic() + server.shutdown_delay + server.drain_timeout + STOP_GRACE
        for pid in self._children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _fail(self, code: int) -> None:
        """The first failure names the exit code; what follows from it does not change it."""
        if self._exit_code == 0:
            self._exit_code = code

    def _kill_stragglers(self) -> None:
        for child in self._children.values():
            log.error("worker_killed", worker=child.slot, pid=child.pid, why="still running after the drain")
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGKILL)
        self._fail(1)
        self._deadline = None  # SIGCHLD wakes the loop once they are gone


def _wake_only(_signum: int, _frame: FrameType | None) -> None:
    """SIGCHLD needs a handler for ``set_wakeup_fd`` to see it; the loop reaps."""


def _drain(fd: int) -> None:
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 4096):
            pass


def _stop_with(supervisor: int) -> None:
    """Ask Linux to SIGTERM this worker when the supervisor dies (even by SIGKILL), so no
    orphaned worker keeps the port."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)
