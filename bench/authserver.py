# SPDX-License-Identifier: Apache-2.0
"""Scenario 5, the authorization server: refresh-token grants per second (one chain of
rotating refresh tokens, driven by wrk) on memory storage and on a local Redis, and start-up time
to a ready /readyz."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import aiohttp
import yaml

from bench.harness import PROXY_CORE, WrkResult, free_port, pinned, sidecar, wait_port, wrk
from sidecar.config.passwords import hash_password

REDIRECT = "http://127.0.0.1:9/callback"


@dataclass(frozen=True)
class Result:
    refresh: dict[str, WrkResult]  # by storage
    startup_ms: dict[str, float]


@contextlib.contextmanager
def redis_server() -> Iterator[int]:
    """A throw-away redis-server on loopback (no persistence); yields its port."""
    port = free_port()
    with (
        tempfile.TemporaryDirectory() as directory,
        subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", directory],
            stdout=subprocess.DEVNULL,
        ) as server,
    ):
        try:
            wait_port(port)
            yield port
        finally:
            server.terminate()


def _redis_storage(port: int) -> dict[str, Any]:
    return {"type": "redis", "redis_config": {"addr": f"127.0.0.1:{port}", "key_prefix": "bench:{b}:"}}


def _refresh_grants(config: dict[str, Any], seconds: float) -> WrkResult:
    port = config["server"]["port"]
    with sidecar(config):
        client_id, refresh = asyncio.run(_login(f"http://127.0.0.1:{port}"))
        return wrk(
            f"http://127.0.0.1:{port}",
            connections=1,
            seconds=seconds,
            script=REFRESH_LUA.format(token=refresh, client_id=client_id),
        )


def _mode_b(port: int, backend: int, public: str | None = None) -> dict[str, Any]:
    public = public or f"http://127.0.0.1:{port}"
    return {
        "server": {"host": "127.0.0.1", "port": port, "public_url": public, "log_format": "json"},
        "backends": [{"name": "b", "url": f"http://127.0.0.1:{backend}/mcp", "path": "/mcp"}],
        "incoming_auth": {"type": "oidc", "oidc": {"issuer": public}},
        "auth_server": {
            "issuer": public,
            "allowed_audiences": [f"{public}/mcp"],
            "upstreams": [
                {
                    "name": "local",
                    "type": "static",
                    "static_config": {
                        "users": [{"username": "bench", "password_hash": hash_password("bench")}]
                    },
                }
            ],
        },
    }


async def _login(base: str) -> tuple[str, str]:
    """One full login; returns (client_id, refresh_token)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(f"{base}/oauth/register", json={"redirect_uris": [REDIRECT]}) as resp:
            client_id = (await resp.json())["client_id"]
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        async with http.get(f"{base}/oauth/authorize", params=query, allow_redirects=False) as resp:
            login = urljoin(base, resp.headers["Location"])
        async with http.get(login) as resp:
            match = re.search(r'name="request" value="([^"]+)"', await resp.text())
            assert match is not None
        form = {"request": match[1], "username": "bench", "password": "bench"}
        async with http.post(f"{base}/oauth/login", data=form, allow_redirects=False) as resp:
            location = resp.headers["Location"]
        if location.startswith("/oauth/consent"):  # a new client: the user allows it once
            async with http.get(urljoin(base, location)) as resp:
                fields = dict(re.findall(r'name="(request|csrf)" value="([^"]+)"', await resp.text()))
            consent = {**fields, "decision": "allow"}
            async with http.post(f"{base}/oauth/consent", data=consent, allow_redirects=False) as resp:
                location = resp.headers["Location"]
        code = parse_qs(urlsplit(location).query)["code"][0]
        token_form = {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }
        async with http.post(f"{base}/oauth/token", data=token_form) as resp:
            return client_id, (await resp.json())["refresh_token"]


REFRESH_LUA = """
local token = "{token}"
request = function()
  return wrk.format("POST", "/oauth/token", {{["Content-Type"] = "application/x-www-form-urlencoded"}},
    "grant_type=refresh_token&client_id={client_id}&refresh_token=" .. token)
end
response = function(status, headers, body)
  local next_token = body:match('"refresh_token":%s*"([^"]+)"')
  if next_token then token = next_token end
end
"""


def _startup(config: dict[str, Any], runs: int) -> float:
    """Median time from spawning the process to /readyz answering 200."""
    times = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sidecar.yaml"
        path.write_text(yaml.safe_dump(config))
        port = config["server"]["port"]
        for _ in range(runs):
            started = time.perf_counter()
            proc = subprocess.Popen(
                pinned(PROXY_CORE, [sys.executable, "-m", "sidecar", "serve", "--config", str(path)]),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                while True:
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as resp:
                            if resp.status == 200:
                                break
                    except OSError:
                        time.sleep(0.005)
                times.append((time.perf_counter() - started) * 1000)
            finally:
                proc.terminate()
                proc.wait(10)
    return statistics.median(times)


def run(seconds: float, *, smoke: bool) -> Result:
    backend = free_port()  # any listener satisfies the readiness probe
    with subprocess.Popen(
        [sys.executable, "-m", "http.server", str(backend), "--bind", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as dummy:
        try:
            wait_port(backend)
            refresh = {"memory": _refresh_grants(_mode_b(free_port(), backend), seconds)}
            with redis_server() as redis_port:
                redis = _mode_b(free_port(), backend)
                redis["auth_server"]["storage"] = _redis_storage(redis_port)
                refresh["redis"] = _refresh_grants(redis, seconds)
            runs = 1 if smoke else 5
            anonymous = {
                "server": {"host": "127.0.0.1", "port": free_port()},
                "backends": [{"name": "b", "url": f"http://127.0.0.1:{backend}/mcp", "path": "/mcp"}],
            }
            startup = {
                "Mode A, anonymous": _startup(anonymous, runs),
                "Mode B, issuer not resolvable": _startup(
                    _mode_b(free_port(), backend, "https://mcp.bench.invalid"), runs
                ),
            }
        finally:
            dummy.terminate()
    return Result(refresh, startup)


def report(result: Result) -> str:
    memory = result.refresh["memory"].requests_per_second
    lines = ["| measurement | value |", "|---|---|"]
    for storage, refresh in result.refresh.items():
        ratio = f" ({refresh.requests_per_second / memory:.2f} x memory)" if storage != "memory" else ""
        lines += [
            f"| refresh-token grants/s, {storage} storage (1 connection, rotating) | "
            f"{refresh.requests_per_second:,.0f}{ratio} |",
            f"| refresh grant latency p50 / p99 ms, {storage} | "
            f"{refresh.p50_ms:.2f} / {refresh.p99_ms:.2f} |",
            f"| failed grants, {storage} | {refresh.errors} |",
        ]
    lines += [
        f"| start-up to /readyz 200, {name} (median) | {ms:.0f} ms |"
        for name, ms in result.startup_ms.items()
    ]
    return "\n".join(lines)
