# SPDX-License-Identifier: Apache-2.0
"""``server.workers: 2`` as a real process tree: both workers serve the one port, ``/metrics`` on
either sums both, a dead worker comes back, a crash loop ends, and SIGTERM drains them all."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer

from tests.authserver.flow import RawClient, mode_b_raw, shared_key_files
from tests.redis_servers import RedisServer
from tests.servers.echo import EchoState
from tests.support import Process, free_port, metric_samples, run_cli, wait_for

REQUESTS = ("mcp_sidecar_requests_total", (("backend", "echo"), ("method", "GET"), ("status", "200")))


@dataclass
class Workers:
    """A running ``mcp-sidecar serve`` with several workers, and its JSON log."""

    process: Process
    url: str
    log_path: Path

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        lines = self.log_path.read_text().splitlines()
        events = [json.loads(line) for line in lines if line.startswith("{")]
        return [e for e in events if name is None or e["event"] == name]

    def worker_pids(self) -> dict[int, int]:
        """The latest pid of each worker slot, from the supervisor's ``worker_started`` events."""
        return {e["worker"]: e["pid"] for e in self.events("worker_started")}

    def pids_that_served(self, path: str) -> set[int]:
        return {e["pid"] for e in self.events("request") if e["path"] == path}

    async def logged(self, path: str, count: int) -> None:
        """Wait until ``count`` requests to ``path`` were logged: a streamed response may reach
        the client before its worker counts and logs it."""

        def all_logged() -> bool:
            return len([e for e in self.events("request") if e["path"] == path]) == count

        await wait_for(all_logged, what=f"{count} requests to {path} logged")

    async def exit_code(self, within: float = 20.0) -> int:
        popen = self.process.popen
        await wait_for(lambda: popen.poll() is not None, within, what="the supervisor to exit")
        return popen.wait()


async def _serve(tmp_path: Path, raw: dict[str, Any]) -> Workers:
    """``mcp-sidecar serve`` with the config ``raw``, once every worker listens."""
    workers = await _start(tmp_path, raw)
    await wait_for(lambda: workers.events("supervisor_started") != [], what="every worker listening")
    return workers


async def _start(tmp_path: Path, raw: dict[str, Any]) -> Workers:
    port = raw["server"]["port"]
    config = tmp_path / "sidecar.yaml"
    config.write_text(yaml.safe_dump(raw))
    log_path = tmp_path / "sidecar.log"
    # Unbuffered, as in the image: every worker's event must still be one whole line of the
    # shared log (events() parses each line as JSON).
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log_file:
        process = await Process.start(
            ["-m", "sidecar", "serve", "--config", str(config)],
            port,
            stdout=log_file,
            stderr=log_file,
            env=env,
        )
    return Workers(process, f"http://127.0.0.1:{port}", log_path)


def _echo_config(echo_server: TestServer, **server: Any) -> dict[str, Any]:
    """A Mode A config in front of the echo server at /b, JSON logs, with ``server`` keys added."""
    return {
        "server": {"host": "127.0.0.1", "port": free_port(), "log_format": "json", **server},
        "backends": [{"name": "echo", "url": f"http://127.0.0.1:{echo_server.port}/", "path": "/b"}],
    }


@pytest.fixture
async def workers(tmp_path: Path, echo_server: TestServer) -> AsyncIterator[Workers]:
    """Two workers in front of the echo server (Mode A)."""
    running = await _serve(tmp_path, _echo_config(echo_server, workers=2, drain_timeout="5s"))
    yield running
    running.process.stop()


@pytest.fixture
async def fresh() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that opens a new connection per request, so the kernel picks a worker each time."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        yield session


async def _get_ok(http: aiohttp.ClientSession, url: str, count: int) -> None:
    for _ in range(count):
        async with http.get(url) as resp:
            assert resp.status == 200


async def test_two_workers_share_the_port_and_both_serve_requests(
    workers: Workers, fresh: aiohttp.ClientSession
) -> None:
    """New connections are spread over both workers, each a whole sidecar (its pid in its logs)."""
    pids = set(workers.worker_pids().values())
    assert len(pids) == 2
    assert os.getpid() not in pids
    served: set[int] = set()

    async def both_served() -> bool:
        await _get_ok(fresh, f"{workers.url}/b/mcp", 5)
        served.update(workers.pids_that_served("/b/mcp"))
        return served == pids

    await wait_for(both_served, what="requests reaching both workers")


async def test_metrics_on_either_worker_sum_both(workers: Workers, fresh: aiohttp.ClientSession) -> None:
    """Whichever worker answers /metrics, it counts the requests every worker served."""
    await _get_ok(fresh, f"{workers.url}/b/mcp", 30)
    await workers.logged("/b/mcp", 30)
    assert len(workers.pids_that_served("/b/mcp")) == 2

    async def scraped_from_both() -> bool:
        assert (await metric_samples(fresh, workers.url))[REQUESTS] == 30
        return len(workers.pids_that_served("/metrics")) == 2

    await wait_for(scraped_from_both, what="/metrics answered by both workers")


async def test_metrics_port_of_the_workers_serves_the_sum(
    tmp_path: Path, echo_server: TestServer, fresh: aiohttp.ClientSession
) -> None:
    """`server.metrics_port` is shared like the main port, and every scrape shows the sum."""
    metrics_port = free_port()
    running = await _serve(tmp_path, _echo_config(echo_server, workers=2, metrics_port=metrics_port))
    try:
        await _get_ok(fresh, f"{running.url}/b/mcp", 30)
        await running.logged("/b/mcp", 30)
        assert len(running.pids_that_served("/b/mcp")) == 2
        for _ in range(10):  # new connections: both workers answer some of them
            assert (await metric_samples(fresh, f"http://127.0.0.1:{metrics_port}"))[REQUESTS] == 30
    finally:
        running.process.stop()


async def test_killed_worker_is_restarted_and_its_counts_stay_in_the_sum(
    workers: Workers, fresh: aiohttp.ClientSession
) -> None:
    """A worker that dies is replaced in its slot; the requests it counted are still in /metrics."""
    sent = 20
    await _get_ok(fresh, f"{workers.url}/b/mcp", sent)
    await workers.logged("/b/mcp", sent)
    victim = workers.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    await wait_for(lambda: workers.worker_pids()[0] != victim, what="worker 0 restarted")
    exited = workers.events("worker_exited")
    assert [(e["worker"], e["pid"], e["signal"]) for e in exited] == [(0, victim, "SIGKILL")]
    replacement = workers.worker_pids()[0]

    async def replacement_serves() -> bool:
        nonlocal sent
        await _get_ok(fresh, f"{workers.url}/b/mcp", 5)
        sent += 5
        return replacement in workers.pids_that_served("/b/mcp")

    await wait_for(replacement_serves, what="the new worker serving")
    await workers.logged("/b/mcp", sent)
    assert (await metric_samples(fresh, workers.url))[REQUESTS] == sent
    assert workers.process.popen.poll() is None


async def test_workers_that_keep_dying_stop_the_supervisor_with_exit_code_4(workers: Workers) -> None:
    """Past 5 restarts within 60 s the supervisor gives up (the orchestrator's back-off takes
    over) instead of spinning: it stops the other worker and exits 4."""
    for restart in range(6):
        victim = workers.worker_pids()[1]
        os.kill(victim, signal.SIGKILL)
        if restart < 5:
            await wait_for(lambda: workers.worker_pids()[1] != victim, what="worker 1 restarted")  # noqa: B023
    assert await workers.exit_code() == 4
    assert [e["restarts"] for e in workers.events("workers_crash_looping")] == [5]
    assert len(workers.events("worker_stopped")) == 1  # worker 0, asked to drain


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_sigterm_drains_both_workers_and_the_supervisor_exits_zero(
    workers: Workers, echo_state: EchoState, fresh: aiohttp.ClientSession, stop: signal.Signals
) -> None:
    """SIGTERM (or SIGINT) to the supervisor reaches every worker: requests in flight on both
    complete, both stop cleanly, and the supervisor exits 0."""
    in_flight = [asyncio.ensure_future(fresh.get(f"{workers.url}/b/slow?seconds=2")) for _ in range(16)]
    await wait_for(lambda: echo_state.slow_in_flight == 16, what="every request at the backend")
    # Each connection was accepted by one worker (all 16 on one: 1 in 32,768).
    assert _holding_clients(set(workers.worker_pids().values()), workers.process.port) == 2
    workers.process.popen.send_signal(stop)
    for pending in in_flight:
        resp = await pending
        assert resp.status == 200
        assert await resp.json() == {"slept": True}
        resp.release()
    assert await workers.exit_code() == 0
    assert len({e["pid"] for e in workers.events("sidecar_stopped")}) == 2
    assert [e["exit_code"] for e in workers.events("worker_stopped")] == [0, 0]


def _holding_clients(pids: set[int], port: int) -> int:
    """How many of ``pids`` hold a client connection accepted on ``port`` (from /proc: Linux)."""
    accepted = _accepted_sockets(port)
    holding = 0
    for pid in pids:
        fds = Path(f"/proc/{pid}/fd")
        holding += any(os.readlink(fds / fd) in accepted for fd in os.listdir(fds))
    return holding


def _accepted_sockets(port: int) -> set[str]:
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01":  # TCP_ESTABLISHED
                sockets.add(f"socket:[{fields[9]}]")
    return sockets


async def test_killed_supervisor_leaves_no_worker_behind(workers: Workers) -> None:
    """Even a supervisor killed with SIGKILL takes its workers with it (Linux's parent-death
    signal), so no orphan keeps the port."""
    pids = set(workers.worker_pids().values())
    workers.process.popen.kill()
    workers.process.popen.wait()
    await wait_for(lambda: all(_gone(pid) for pid in pids), what="the workers exiting")


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie its new parent has not reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def test_one_worker_runs_as_one_process_without_supervisor(
    tmp_path: Path, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """With the default `server.workers: 1` nothing changes: one process serves, no supervisor
    forks, and the logs carry no worker fields."""
    single = await _start(tmp_path, _echo_config(echo_server))
    try:
        await _get_ok(http, f"{single.url}/b/mcp", 3)
        assert _children(single.process.popen.pid) == []
    finally:
        single.process.stop()
    assert single.events("worker_started") == []
    assert all("pid" not in e and "worker" not in e for e in single.events())


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


async def test_workers_on_a_port_in_use_say_so_in_one_line(tmp_path: Path) -> None:
    """A port another socket holds (even one with SO_REUSEPORT) is refused before any worker
    starts: one line, exit code 3, as with one process."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        config = tmp_path / "sidecar.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "server": {"host": "127.0.0.1", "port": port, "workers": 2},
                    "backends": [{"name": "b", "url": f"http://127.0.0.1:{free_port()}/", "path": "/b"}],
                }
            )
        )
        result = run_cli("serve", "--config", str(config))
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        f"mcp-sidecar: cannot listen on 127.0.0.1:{port} (server.port): address already in use"
    ]


async def test_mode_b_on_redis_signs_in_and_refreshes_across_two_workers(
    tmp_path: Path, mcp_server: str, redis_server: RedisServer
) -> None:
    """With Redis and shared key files, each step of a sign-in may land on either worker (a new
    connection each) and the flow still works: the workers act as one authorization server."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    storage = {
        "type": "redis",
        "redis_config": {
            "addr": f"127.0.0.1:{redis_server.port}",
            "key_prefix": f"t:{{{secrets.token_hex(6)}}}:",
        },
    }
    raw = mode_b_raw(public, storage=storage, **shared_key_files(tmp_path))
    raw["server"].update(host="127.0.0.1", port=port, workers=2, log_format="json", drain_timeout="1s")
    raw["backends"] = [{"name": "demo", "url": f"{mcp_server}/mcp", "path": "/mcp"}]
    running = await _serve(tmp_path, raw)
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True), cookie_jar=aiohttp.CookieJar(unsafe=True)
        ) as http:
            raw_client = RawClient(http, public)
            for _ in range(3):
                client_id, tokens = await raw_client.sign_in()
                for _ in range(4):
                    assert await raw_client.call_mcp(tokens["access_token"]) == 200
                status, refreshed = await raw_client.refresh(client_id, tokens["refresh_token"])
                assert status == 200, refreshed
                assert await raw_client.call_mcp(refreshed["access_token"]) == 200
        assert len({e["pid"] for e in running.events("request")}) == 2
    finally:
        running.process.stop()
