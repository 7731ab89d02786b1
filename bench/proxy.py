# SPDX-License-Identifier: Apache-2.0
"""Scenario 1, pass-through overhead: a trivial fast backend (nginx answering a small JSON-RPC
response) reached directly, through nginx (one worker, keepalive upstream), through two Python
baselines (the ceiling: asyncio protocols + httptools, no aiohttp; the floor of the sidecar's
stack: the smallest aiohttp proxy) and through the sidecar (anonymous; JWT with the
verified-token cache; JWT with the cache off). Every proxy row also shows the proxy's CPU time
per request: the sidecar's minus the bare proxy's is the sidecar's own work."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from bench.harness import (
    LOAD_CORE,
    NGINX_BACKEND,
    NGINX_PROXY,
    PROXY_CORE,
    RPC_RESPONSE,
    WrkResult,
    cpu_seconds,
    free_port,
    nginx,
    nginx_process,
    pinned,
    post_script,
    process,
    sidecar_process,
    wrk,
)

REQUEST = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
PUBLIC = "https://mcp.bench.example"


@dataclass(frozen=True)
class Row:
    name: str
    single: WrkResult  # 1 connection: latency
    many: WrkResult  # 32 connections: throughput
    cpu_us: float | None  # the proxy process's CPU per request over ``many``; None: no proxy


def _signing() -> tuple[Any, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return key, {**jwk, "kid": "bench-1", "alg": "ES256", "use": "sig"}


def _measure(name: str, url: str, seconds: float, headers: dict[str, str], pid: int | None = None) -> Row:
    """Latency at 1 connection, then throughput at 32 with the CPU time ``pid`` (the proxy) spent
    on them (``/proc``: user + system, its children included)."""
    script = post_script(REQUEST, headers)
    wrk(url, connections=1, seconds=min(seconds, 2), script=script)  # warm-up
    single = wrk(url, connections=1, seconds=seconds, script=script)
    before = cpu_seconds(pid) if pid else 0.0
    many = wrk(url, connections=32, seconds=seconds, script=script)
    cpu_us = (cpu_seconds(pid) - before) * 1e6 / max(many.requests, 1) if pid else None
    return Row(name, single, many, cpu_us)


@contextlib.contextmanager
def _python_proxy(module: str, backend: int) -> Iterator[tuple[int, int]]:
    """``python -m bench.<module> PORT BACKEND_URL`` on the proxy core; yields (port, pid)."""
    port = free_port()
    command = pinned(PROXY_CORE, [sys.executable, "-m", module, str(port), f"http://127.0.0.1:{backend}/"])
    with process(command, port) as proc:  # taskset execs: the pid is Python's own
        yield port, proc.pid


@contextlib.contextmanager
def bench_backend() -> Iterator[tuple[int, str, Any]]:
    """nginx on the load core: the JSON-RPC answer, and an issuer's discovery and JWKS."""
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    key, jwk = _signing()
    discovery = json.dumps({"issuer": issuer, "jwks_uri": f"{issuer}/jwks"})
    with nginx(
        NGINX_BACKEND,
        LOAD_CORE,
        port=port,
        discovery=discovery,
        jwks=json.dumps({"keys": [jwk]}),
        body=RPC_RESPONSE,
    ):
        yield port, issuer, key


def oidc_config(backend: int, issuer: str, cache: int) -> dict[str, Any]:
    return {
        "server": {"public_url": PUBLIC},
        "backends": [{"name": "fast", "url": f"http://127.0.0.1:{backend}/", "path": "/b"}],
        "incoming_auth": {
            "type": "oidc",
            "oidc": {
                "issuer": issuer,
                "insecure_allow_http": True,
                "allow_private_ip": True,
                "token_cache_size": cache,
            },
        },
    }


def bench_token(issuer: str, key: Any) -> str:
    """An hour's ES256 access token for the backend at ``/b``, signed by the JWKS's key."""
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": f"{PUBLIC}/b",
        "sub": "bench",
        "iat": now,
        "exp": now + 3600,
        "scope": "mcp",
    }
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "bench-1"})


def run(seconds: float) -> list[Row]:
    rows: list[Row] = []
    with bench_backend() as (backend, issuer, key):
        rows.append(_measure("direct to backend", f"http://127.0.0.1:{backend}/", seconds, {}))
        with nginx_process(NGINX_PROXY, PROXY_CORE, backend=backend) as (port, pid):
            rows.append(_measure("nginx proxy", f"http://127.0.0.1:{port}/", seconds, {}, pid))
        with _python_proxy("bench.ceiling_proxy", backend) as (port, pid):
            name = "Python ceiling: asyncio + httptools, no aiohttp"
            rows.append(_measure(name, f"http://127.0.0.1:{port}/", seconds, {}, pid))
        with _python_proxy("bench.bare_proxy", backend) as (port, pid):
            name = "bare aiohttp proxy (the stack's floor)"
            rows.append(_measure(name, f"http://127.0.0.1:{port}/", seconds, {}, pid))
        anonymous = {"backends": [{"name": "fast", "url": f"http://127.0.0.1:{backend}/", "path": "/b"}]}
        with sidecar_process(anonymous) as (port, pid):
            rows.append(_measure("sidecar, anonymous", f"http://127.0.0.1:{port}/b/", seconds, {}, pid))
        auth = {"Authorization": f"Bearer {bench_token(issuer, key)}"}
        for name, cache in (("sidecar, JWT (warm cache)", 10000), ("sidecar, JWT (cache off)", 0)):
            with sidecar_process(oidc_config(backend, issuer, cache)) as (port, pid):
                rows.append(_measure(name, f"http://127.0.0.1:{port}/b/", seconds, auth, pid))
    return rows


def report(rows: list[Row]) -> str:
    direct, reference = rows[0], rows[1]
    nginx_added = reference.single.p50_ms - direct.single.p50_ms
    anonymous = next((r for r in rows if r.name == "sidecar, anonymous"), None)
    lines = [
        "| path | p50 ms (1 conn) | p99 ms | added p50 ms | added p50 / nginx's | req/s (32 conn) | "
        "/ nginx | / sidecar anonymous | proxy CPU µs per request (32 conn) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        added = row.single.p50_ms - direct.single.p50_ms
        ratio_added = f"{added / nginx_added:.2f}" if nginx_added > 0 and row is not direct else "-"
        vs_anon = (
            f"{row.many.requests_per_second / anonymous.many.requests_per_second:.2f}" if anonymous else "-"
        )
        vs_nginx = row.many.requests_per_second / reference.many.requests_per_second
        cpu = f"{row.cpu_us:.0f}" if row.cpu_us is not None else "-"
        errors = row.single.errors + row.many.errors
        lines.append(
            f"| {row.name} | {row.single.p50_ms:.3f} | {row.single.p99_ms:.3f} | {added:.3f} "
            f"| {ratio_added} | {row.many.requests_per_second:,.0f} | {vs_nginx:.2f} | {vs_anon} | {cpu} "
            f"| {errors} |"
        )
    return "\n".join(lines)
