# SPDX-License-Identifier: Apache-2.0
"""Scenario 3, SSE fan-out: N concurrent long-lived streams through the sidecar, versus the same
streams straight to the backend.

Each measurement opens every stream first (client processes, ``bench/sse_client.py``), reads the
sidecar's CPU time at rest with all of them open, then asks the backend (``bench/sse_backend.py``)
for R rounds of one event per stream and reads the sidecar's CPU time again once every event has
arrived. From that:

- **memory per stream**: (the sidecar's RSS, workers included, with N streams open after the
  events - its RSS before the streams) / N;
- **relay cost per event**: (CPU time over the event phase - the rest rate * its duration) /
  events relayed: what the sidecar spends reading one event from the backend and writing it to
  the client, holding the streams open aside;
- **delivery delay**: receive time - the send time the event carries, direct and through the
  sidecar, at the same load;
- **lost events**: expected - received, and gaps in the event ids. A stream whose opening
  fails (a reset when the listen queue overflows under a storm of new connections) is opened
  again, as an SSE client reconnects, before any event is sent; the table counts those
  (``reopened``) apart from streams that never opened (``failed``).

Two sizes. 1,000 streams with one worker: the sidecar on core 0, the backend and the client on
core 1, one event per stream per second. Then the largest count this machine's open-file limit
allows with ``server.workers: 2`` (each worker holds two sockets per stream: the client's and
the backend's; connections spread over the workers by ``SO_REUSEPORT`` hashing, not evenly, so
a margin is kept), several client processes, nothing pinned, one event per stream every five
seconds so that the two cores relay rather than queue.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import resource
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bench.harness import (
    ALL_CORES,
    LOAD_CORE,
    PROXY_CORE,
    cpu_seconds,
    free_port,
    pinned,
    process,
    rss_kib_tree,
    sidecar_process,
)

RESERVE = 256  # file descriptors a process keeps for itself (listeners, logs, imports, pipes)
SPREAD = 0.03  # margin for SO_REUSEPORT's uneven spread of connections over the workers
CAP = 20_000  # streams: beyond this the run takes too long for what it adds
PER_CLIENT = 5_000  # streams per client process
OPEN_RATE = 1_000  # new streams a second, all client processes together


@dataclass(frozen=True)
class Setup:
    streams: int
    rounds: int
    interval: float  # seconds between two events of a stream
    workers: int
    pinned: bool  # sidecar on the proxy core, backend and clients on the load core
    rest: float  # seconds of CPU time read at rest, streams open

    @property
    def clients(self) -> int:
        return max(1, math.ceil(self.streams / PER_CLIENT))


@dataclass(frozen=True)
class Row:
    setup: Setup
    path: str
    p50_ms: float
    p99_ms: float
    received: int
    lost: int
    failed: int
    reopened: int  # streams opened again after a failed attempt
    rss_per_stream_kib: float | None  # None: no sidecar on this path
    relay_us_per_event: float | None


def largest(limit: int, workers: int) -> int:
    """The most streams the open-file ``limit`` of each process lets through ``workers``
    sidecar workers (two sockets per stream each) and one backend process (one per stream)."""
    per_worker = (limit - RESERVE) // 2
    spread = SPREAD if workers > 1 else 0.0
    streams = min(int(workers * per_worker * (1 - spread)), limit - RESERVE, CAP)
    return streams // 100 * 100


def file_limit() -> int:
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def setups(*, smoke: bool) -> list[Setup]:
    if smoke:
        return [Setup(100, 2, 0.5, 1, True, 0.5), Setup(200, 2, 0.5, 2, False, 0.5)]
    return [Setup(1000, 10, 1.0, 1, True, 2.0), Setup(largest(file_limit(), 2), 3, 5.0, 2, False, 2.0)]


@contextlib.contextmanager
def _client(port: int, path: str, streams: int, setup: Setup, core: str) -> Iterator[subprocess.Popen[str]]:
    patience = setup.rounds * setup.interval + 120
    command = [sys.executable, "-m", "bench.sse_client", str(port), path, str(streams)]
    command += [str(setup.rounds), str(patience), str(OPEN_RATE / setup.clients)]
    proc = subprocess.Popen(pinned(core, command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        with contextlib.suppress(OSError):
            proc.communicate("close\n", timeout=30)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _line(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"an SSE client process ended early (exit {proc.wait()})")
    message: dict[str, Any] = json.loads(line)
    return message


def _go(backend: int, rounds: int) -> None:
    url = f"http://127.0.0.1:{backend}/go?rounds={rounds}"
    with urllib.request.urlopen(urllib.request.Request(url, b"", method="POST"), timeout=30):
        pass


def _shares(streams: int, parts: int) -> list[int]:
    return [streams // parts + (1 if index < streams % parts else 0) for index in range(parts)]


def _measure(setup: Setup, backend: int, port: int, path: str, pid: int | None) -> Row:
    """One fan-out: ``pid`` is the sidecar's (None on the direct path)."""
    idle_rss = rss_kib_tree(pid) if pid else 0
    core = LOAD_CORE if setup.pinned else ALL_CORES
    with contextlib.ExitStack() as stack:
        clients = [
            stack.enter_context(_client(port, path, share, setup, core))
            for share in _shares(setup.streams, setup.clients)
        ]
        connected = sum(int(_line(client)["connected"]) for client in clients)
        time.sleep(0.5)  # the last streams' handshakes finish on the proxy too
        rest_started, rest_cpu = time.monotonic(), cpu_seconds(pid) if pid else 0.0
        time.sleep(setup.rest)
        started, cpu = time.monotonic(), cpu_seconds(pid) if pid else 0.0
        rest_rate = (cpu - rest_cpu) / (started - rest_started)
        _go(backend, setup.rounds)
        results = [_line(client) for client in clients]
        ended, cpu_used = time.monotonic(), (cpu_seconds(pid) - cpu) if pid else 0.0
        rss = rss_kib_tree(pid) if pid else 0
    errors: collections.Counter[str] = collections.Counter()
    for result in results:
        errors.update(result["errors"])
    if errors:  # the table counts them; this says why
        print(f"SSE {setup.streams:,} streams, {path}: {dict(errors)}", file=sys.stderr)
    delays = sorted(delay for result in results for delay in result["delays_ms"])
    relay = (cpu_used - rest_rate * (ended - started)) * 1e6 / max(len(delays), 1)
    return Row(
        setup,
        "through the sidecar" if pid else "direct",
        statistics.median(delays) if delays else math.nan,
        delays[min(len(delays) - 1, int(len(delays) * 0.99))] if delays else math.nan,
        len(delays),
        max(setup.streams * setup.rounds - len(delays), sum(int(r["lost"]) for r in results)),
        sum(int(r["failed"]) for r in results),
        sum(int(r["reopened"]) for r in results),
        (rss - idle_rss) / max(connected, 1) if pid else None,
        relay if pid else None,
    )


def run(*, smoke: bool) -> list[Row]:
    rows = []
    for setup in setups(smoke=smoke):
        backend = free_port()
        core = LOAD_CORE if setup.pinned else ALL_CORES
        command = [sys.executable, "-m", "bench.sse_backend", str(backend), str(setup.interval)]
        with process(pinned(core, command), backend):
            rows.append(_measure(setup, backend, backend, "/events", None))
            config = {
                "server": {"workers": setup.workers},
                "backends": [{"name": "sse", "url": f"http://127.0.0.1:{backend}/", "path": "/s"}],
            }
            with sidecar_process(config, PROXY_CORE if setup.pinned else ALL_CORES) as (port, pid):
                rows.append(_measure(setup, backend, port, "/s/events", pid))
    return rows


def report(rows: list[Row]) -> str:
    lines = [
        f"Open-file limit per process: {file_limit():,}.\n",
        "| streams | workers | path | events every | delivery delay p50 ms | p99 ms | p99 over direct ms "
        "| events received | lost | failed streams | reopened | sidecar RSS per stream "
        "| sidecar CPU µs per relayed event |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    direct_p99: dict[Setup, float] = {}
    for row in rows:
        if row.rss_per_stream_kib is None:
            direct_p99[row.setup] = row.p99_ms
        over = row.p99_ms - direct_p99[row.setup] if row.path != "direct" else None
        rss = f"{row.rss_per_stream_kib:.1f} KiB" if row.rss_per_stream_kib is not None else "-"
        relay = f"{row.relay_us_per_event:.0f}" if row.relay_us_per_event is not None else "-"
        lines.append(
            f"| {row.setup.streams:,} | {row.setup.workers if row.path != 'direct' else '-'} | {row.path} "
            f"| {row.setup.interval:g} s | {row.p50_ms:.2f} | {row.p99_ms:.2f} "
            f"| {f'{over:+.2f}' if over is not None else '-'} "
            f"| {row.received:,} of {row.setup.streams * row.setup.rounds:,} | {row.lost} | {row.failed} "
            f"| {row.reopened} | {rss} | {relay} |"
        )
    return "\n".join(lines)
