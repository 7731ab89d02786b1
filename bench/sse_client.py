# SPDX-License-Identifier: Apache-2.0
"""One client process of the SSE fan-out scenario: it opens STREAMS streams, reports them open,
reads ROUNDS events on each, reports what it saw, and closes them when told to. Several run side
by side when one process's open-file limit would not hold every stream.

It talks to the benchmark over its standard streams, one JSON object a line:

- out ``{"connected": n}`` once every stream has seen the backend's ``: connected`` comment or
  failed (or a minute more than opening them takes has passed);
- out ``{"received": n, "lost": n, "failed": n, "reopened": n, "errors": {...}, "delays_ms": [...]}``
  once every stream has read ROUNDS events or ended, or PATIENCE seconds after the first line
  (``lost``: gaps in the ids; ``errors``: what went wrong, counted by exception and errno);
- in ``close``: every stream is closed and the process exits. Until then the streams stay
  open, so the proxy's memory can be read with all of them held.

Streams are opened RATE a second: a storm of thousands of connections a second overflows the
listen queues (the kernel then drops handshakes, or resets them), which is not what is measured.
A stream whose opening fails is opened again, up to ATTEMPTS times, as an SSE client reconnects;
the attempts are counted (``reopened``).

Run: ``python -m bench.sse_client PORT PATH STREAMS ROUNDS PATIENCE RATE``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field

import uvloop

TICK = 0.05  # seconds between two batches of new streams
ATTEMPTS = 5  # to open one stream


@dataclass
class Tally:
    streams: int
    connected: int = 0
    lost: int = 0
    failed: int = 0
    reopened: int = 0  # opening attempts that failed and were made again
    settled: int = 0  # streams connected or failed
    finished: int = 0  # streams done reading, or failed
    delays_ms: list[float] = field(default_factory=list)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)  # why streams failed
    all_settled: asyncio.Event = field(default_factory=asyncio.Event)
    all_finished: asyncio.Event = field(default_factory=asyncio.Event)
    close: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self) -> None:
        self.settled += 1
        if self.settled == self.streams:
            self.all_settled.set()

    def finish(self) -> None:
        self.finished += 1
        if self.finished == self.streams:
            self.all_finished.set()


async def read_events(reader: asyncio.StreamReader, rounds: int, tally: Tally) -> bool:
    """Reads ``rounds`` events; False when the stream ended first. Ids count from 1: a gap, or a
    first id above 1, is lost events."""
    last_id, seen = 0, 0
    while seen < rounds:
        line = await reader.readline()
        if not line:
            return False
        if line.startswith(b"id: "):
            current = int(line[4:])
            tally.lost += max(0, current - last_id - 1)
            last_id = current
        elif line.startswith(b"data: "):
            tally.delays_ms.append((time.time() - float(line[6:])) * 1000)
            seen += 1
    return True


async def open_stream(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream that has seen the backend's ``: connected`` comment."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        while not (line := await reader.readline()).startswith(b": connected"):
            if not line:
                raise asyncio.IncompleteReadError(b"", None)  # refused (a 502?) or cut
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def stream(port: int, path: str, rounds: int, tally: Tally) -> None:
    """One stream: opened (again after a failure, as an SSE client reconnects, up to ATTEMPTS
    times: the count is reported), then read."""
    writer: asyncio.StreamWriter | None = None
    stage = "opening"
    try:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                reader, writer = await open_stream(port, path)
                break
            except (OSError, asyncio.IncompleteReadError) as exc:
                if attempt == ATTEMPTS:
                    raise
                tally.errors[f"{_name(exc)} while opening, opened again"] += 1
                tally.reopened += 1
                await asyncio.sleep(0.5 * attempt)
        stage = "reading events"
        tally.connected += 1
        tally.settle()
        if not await read_events(reader, rounds, tally):
            tally.failed += 1
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.failed += 1
        tally.errors[f"{_name(exc)} while {stage}"] += 1
        if writer is None:
            tally.settle()
    tally.finish()
    try:
        await tally.close.wait()  # held open until the benchmark has read the proxy's memory
    finally:
        if writer is not None:
            writer.close()


def _name(exc: BaseException) -> str:
    errno = getattr(exc, "errno", None)
    return f"{type(exc).__name__} {errno}" if errno else type(exc).__name__


def say(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


async def main(argv: list[str]) -> None:
    port, path, streams, rounds = int(argv[0]), argv[1], int(argv[2]), int(argv[3])
    patience, rate = float(argv[4]), float(argv[5])
    tally = Tally(streams)
    tasks: list[asyncio.Task[None]] = []
    batch = max(1, round(rate * TICK))
    for start in range(0, streams, batch):
        tasks += [
            asyncio.create_task(stream(port, path, rounds, tally))
            for _ in range(start, min(start + batch, streams))
        ]
        await asyncio.sleep(TICK)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(60 + streams / rate):
            await tally.all_settled.wait()
    say({"connected": tally.connected})
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(patience):
            await tally.all_finished.wait()
    say(
        {
            "received": len(tally.delays_ms),
            "lost": tally.lost,
            "failed": tally.failed + streams - tally.settled,  # never settled: never connected
            "reopened": tally.reopened,
            "errors": dict(tally.errors),
            "delays_ms": [round(delay, 3) for delay in tally.delays_ms],
        }
    )
    await asyncio.to_thread(sys.stdin.readline)  # "close"
    tally.close.set()
    for task in tasks:
        task.cancel()  # those still connecting or reading, after a timeout
    await asyncio.gather(*tasks, return_exceptions=True)


if __name__ == "__main__":
    uvloop.install()
    asyncio.run(main(sys.argv[1:7]))
