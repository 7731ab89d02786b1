# SPDX-License-Identifier: Apache-2.0
"""Processes for the benchmarks: nginx (backend and reference proxy), the sidecar, and wrk,
pinned to cores with taskset (the proxy under test on core 0; load and backend on core 1)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import yaml

PROXY_CORE, LOAD_CORE = "0", "1"
ALL_CORES = ",".join(str(core) for core in range(os.cpu_count() or 1))  # taskset's list: unpinned


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def pinned(core: str, command: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", core, *command]
    return command


@contextlib.contextmanager
def process(command: list[str], port: int, **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=kwargs.pop("stderr", subprocess.DEVNULL), **kwargs
    )
    try:
        wait_port(port)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


NGINX_BACKEND = """
worker_processes 1; daemon off; user root; pid {dir}/backend.pid; error_log stderr error;
events {{ worker_connections 16384; }}
http {{
  access_log off; client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location = /.well-known/openid-configuration {{
      default_type application/json; return 200 '{discovery}';
    }}
    location = /jwks {{ default_type application/json; return 200 '{jwks}'; }}
    location / {{ default_type application/json; return 200 '{body}'; }}
  }}
}}
"""

NGINX_PROXY = """
worker_processes 1; daemon off; user root; pid {dir}/proxy.pid; error_log stderr error;
events {{ worker_connections 16384; }}
http {{
  access_log off; client_body_temp_path {dir}/body2; proxy_temp_path {dir}/proxy2;
  fastcgi_temp_path {dir}/fcgi2; uwsgi_temp_path {dir}/uwsgi2; scgi_temp_path {dir}/scgi2;
  keepalive_requests 1000000;
  upstream backend {{ server 127.0.0.1:{backend}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}
}}
"""

RPC_RESPONSE = '{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}'


@contextlib.contextmanager
def nginx(template: str, core: str, port: int | None = None, **values: Any) -> Iterator[int]:
    with nginx_process(template, core, port, **values) as (bound, _pid):
        yield bound


@contextlib.contextmanager
def nginx_process(
    template: str, core: str, port: int | None = None, **values: Any
) -> Iterator[tuple[int, int]]:
    """Like :func:`nginx`, yielding ``(port, pid)``: the master's pid, whose worker is its child
    (:func:`cpu_seconds` counts both)."""
    port = port or free_port()
    with tempfile.TemporaryDirectory() as directory:
        conf = Path(directory) / "nginx.conf"
        conf.write_text(template.format(dir=directory, port=port, **values))
        with process(pinned(core, ["nginx", "-c", str(conf), "-p", directory]), port) as proc:
            yield port, proc.pid


@contextlib.contextmanager
def sidecar(config: dict[str, Any], core: str = PROXY_CORE) -> Iterator[int]:
    """A sidecar process on ``core``, ready; yields its port."""
    with sidecar_process(config, core) as (port, _pid):
        yield port


@contextlib.contextmanager
def sidecar_process(
    config: dict[str, Any], core: str = PROXY_CORE, source: Path | None = None
) -> Iterator[tuple[int, int]]:
    """Like :func:`sidecar`, yielding ``(port, pid)`` (the pid of the Python process itself).
    ``source``: a folder holding another build's ``sidecar`` package, run instead of this one."""
    server = {"host": "127.0.0.1", "port": free_port(), "log_format": "json", **config.get("server", {})}
    port = int(server["port"])
    config = {**config, "server": server}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sidecar.yaml"
        path.write_text(yaml.safe_dump(config))
        # taskset execs the command, so the pid is the sidecar's own.
        command = pinned(core, [sys.executable, "-m", "sidecar", "serve", "--config", str(path)])
        with process(command, port, cwd=source) as proc:  # `-m` imports from the cwd first
            wait_ready(port)
            yield port, proc.pid


def wait_ready(port: int, within: float = 30) -> None:
    import urllib.request  # noqa: PLC0415 - only here

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the sidecar did not become ready")


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0  # completed in the whole measurement


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency(text: str, percentile: str) -> float:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no {percentile}% latency:\n{text}")
    return float(match[1]) * _UNITS[match[2]]


def wrk(
    url: str, *, connections: int, seconds: float, script: str, threads: int = 1, core: str = LOAD_CORE
) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
        lua.write(script)
    try:
        command = pinned(
            core,
            [
                "wrk",
                "--latency",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "-s",
                lua.name,
                url,
            ],
        )
        text = subprocess.run(
            command, capture_output=True, text=True, check=True, timeout=seconds + 60
        ).stdout
    finally:
        os.unlink(lua.name)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in", text)
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if rps is None:
        raise RuntimeError(f"wrk printed no throughput:\n{text}")
    return WrkResult(
        float(rps[1]),
        _latency(text, "50"),
        _latency(text, "99"),
        errors + (int(non2xx[1]) if non2xx else 0),
        int(total[1]) if total else 0,
    )


def post_script(body: str, headers: dict[str, str]) -> str:
    lines = [
        'wrk.method = "POST"',
        f"wrk.body = [[{body}]]",
        'wrk.headers["Content-Type"] = "application/json"',
    ]
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    return "\n".join(lines) + "\n"


def cpu_seconds(pid: int) -> float:
    """User + system time of ``pid`` and its children, alive or reaped (``/proc``: Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid, *_children(pid)]
    for each in pids:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        # utime, stime, cutime, cstime: fields 14-17 of stat(5), 12-15 after the name.
        total += sum(int(value) for value in fields[11:15]) / ticks
    return total


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def rss_kib_tree(pid: int) -> int:
    """Resident memory of ``pid`` and its children (a supervisor and its workers)."""
    return sum(rss_kib(each) for each in (pid, *_children(pid)))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    nginx_version = subprocess.run(
        ["nginx", "-v"], capture_output=True, text=True, check=False
    ).stderr.strip()
    return f"{os.cpu_count()} CPUs ({cpu}); Python {sys.version.split()[0]}; {nginx_version}"


async def per_call_us(call: Callable[[], Awaitable[object]], iterations: int) -> float:
    """Microseconds per awaited call, after a warm-up of up to 200 calls."""
    for _ in range(min(iterations, 200)):
        await call()
    started = time.perf_counter()
    for _ in range(iterations):
        await call()
    return (time.perf_counter() - started) / iterations * 1e6


@contextlib.contextmanager
def git_build(ref: str | None) -> Iterator[tuple[Path, str]]:
    """The ``sidecar`` package of ``ref`` (default: the merge base of ``HEAD`` and ``main``) in a
    temporary folder, and the short commit it names: a baseline build to run beside this one."""
    ref = ref or _git("merge-base", "HEAD", "main")
    commit = _git("rev-parse", "--short", ref)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "sidecar"], capture_output=True, check=True
    )
    with tempfile.TemporaryDirectory() as directory, tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(directory, filter="data")
        yield Path(directory), commit


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
