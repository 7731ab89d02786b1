# SPDX-License-Identifier: Apache-2.0
"""Scenario 3, SSE fan-out: N concurrent long-lived streams through one sidecar process, versus
the same streams straight to the backend: memory per stream, delivery delay, lost events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass, field

from bench.harness import LOAD_CORE, free_port, pinned, process, rss_kib, sidecar_process

INTERVAL = 1.0


@dataclass
class Run:
    streams: int
    connected: int = 0
    delays_ms: list[float] = field(default_factory=list)
    lost: int = 0
    failed: int = 0


@dataclass(frozen=True)
class Row:
    streams: int
    path: str
    p50_ms: float
    p99_ms: float
    received: int
    lost: int
    failed: int
    rss_per_stream_kib: float | None


async def _stream(port: int, path: str, rounds: int, run: Run, all_connected: asyncio.Event) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        run.failed += 1
        return
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        while not (await reader.readline()).startswith(b": connected"):
            pass
        run.connected += 1
        if run.connected == run.streams:
            all_connected.set()
        await all_connected.wait()
        last_id, seen = None, 0
        while seen < rounds:
            line = await reader.readline()
            if not line:
                run.failed += 1
                return
            if line.startswith(b"id: "):
                current = int(line[4:])
                if last_id is not None and current != last_id + 1:
                    run.lost += current - last_id - 1
                last_id = current
            elif line.startswith(b"data: "):
                run.delays_ms.append((time.time() - float(line[6:])) * 1000)
                seen += 1
    except (OSError, asyncio.IncompleteReadError, ValueError):
        run.failed += 1
    finally:
        writer.close()


async def _fan_out(
    port: int, path: str, streams: int, rounds: int, pid: int | None
) -> tuple[Run, float | None]:
    run, all_connected = Run(streams), asyncio.Event()
    before = rss_kib(pid) if pid else None
    tasks = []
    for start in range(0, streams, 500):  # open in batches, within the listen backlog
        tasks += [
            asyncio.create_task(_stream(port, path, rounds, run, all_connected))
            for _ in range(start, min(start + 500, streams))
        ]
        await asyncio.sleep(0.05)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(60):
            await all_connected.wait()
    per_stream = None
    if pid and before is not None:
        await asyncio.sleep(INTERVAL)  # let every stream see traffic once
        per_stream = (rss_kib(pid) - before) / max(run.connected, 1)
    async with asyncio.timeout(rounds * INTERVAL + 120):
        await asyncio.gather(*tasks)
    return run, per_stream


def _row(streams: int, path: str, run: Run, per_stream: float | None) -> Row:
    delays = sorted(run.delays_ms) or [float("nan")]
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    return Row(
        streams,
        path,
        statistics.median(delays),
        p99,
        len(run.delays_ms),
        run.lost,
        run.failed + run.streams - run.connected,
        per_stream,
    )


def run(*, smoke: bool) -> list[Row]:
    # 9,000, not 10,000: this machine's hard limit of 20,000 open files per process is below the
    # two sockets per stream the sidecar holds at 10,000 streams.
    counts, rounds = ((100,), 2) if smoke else ((1000, 9000), 5)
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, {int(LOAD_CORE)})  # the client shares the load core with the backend
    rows = []
    for streams in counts:
        backend = free_port()
        command = pinned(LOAD_CORE, [sys.executable, "-m", "bench.sse_backend", str(backend), str(INTERVAL)])
        with process(command, backend):
            direct, _ = asyncio.run(_fan_out(backend, "/events", streams, rounds, None))
            rows.append(_row(streams, "direct", direct, None))
            config = {"backends": [{"name": "sse", "url": f"http://127.0.0.1:{backend}/", "path": "/s"}]}
            with sidecar_process(config) as (port, pid):
                through, per_stream = asyncio.run(_fan_out(port, "/s/events", streams, rounds, pid))
            rows.append(_row(streams, "through the sidecar", through, per_stream))
    return rows


def report(rows: list[Row]) -> str:
    lines = [
        "| streams | path | delivery delay p50 ms | p99 ms | events received | lost | failed streams | "
        "sidecar RSS per stream |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rss = f"{row.rss_per_stream_kib:.1f} KiB" if row.rss_per_stream_kib is not None else "-"
        lines.append(
            f"| {row.streams:,} | {row.path} | {row.p50_ms:.2f} | {row.p99_ms:.2f} | {row.received:,} | "
            f"{row.lost} | {row.failed} | {rss} |"
        )
    return "\n".join(lines)
