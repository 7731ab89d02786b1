# SPDX-License-Identifier: Apache-2.0
"""Scenario 2, a real MCP server (official SDK, stateless JSON mode), ``tools/call`` of a small
tool: (a) the server checking JWTs itself (the SDK's bearer middleware with a PyJWT verifier)
versus (b) the same server without auth behind the sidecar checking the same JWTs, and the
same as (b) behind a peer Python MCP proxy, FastMCP's, checking the same JWTs: (c) in its default
mode (a backend session per call), (d) the same with one TLS context for all its HTTP clients and
(e) with one backend session shared by every call (bench/peer_mcp_proxy.py says why each).

Cores: the MCP server on core 0 in all; the proxy of (b) to (e) shares core 1 with wrk."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.harness import (
    LOAD_CORE,
    PROXY_CORE,
    WrkResult,
    cpu_seconds,
    free_port,
    pinned,
    post_script,
    process,
    sidecar_process,
    wrk,
)

CALL = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}'
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
ISSUER = "https://issuer.bench.example"
PUBLIC = "https://mcp.bench.example"


PEER_PYTHON = Path(__file__).resolve().parent / ".peer-venv" / "bin" / "python"
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Row:
    name: str
    result: WrkResult
    proxy_cpu_us: float | None = None  # the proxy's CPU per call; None: no proxy in front


def _first_call(url: str, headers: dict[str, str]) -> None:
    """One call answered before any load: a proxy's first one fetches the JWKS and imports lazily
    (FastMCP's takes over a second), which a one-second warm-up would not see through."""
    request = urllib.request.Request(  # noqa: S310 - a loopback http:// URL made by this module
        url, CALL.encode(), {**headers, "Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the same
        if b'"result"' not in response.read():
            raise RuntimeError(f"{url} did not answer the tools/call")


def _measure(name: str, url: str, headers: dict[str, str], seconds: float, pid: int | None = None) -> Row:
    _first_call(url, headers)
    script = post_script(CALL, headers)
    wrk(url, connections=8, seconds=1, script=script)  # warm-up
    before = cpu_seconds(pid) if pid else 0.0
    result = wrk(url, connections=8, seconds=seconds, script=script)
    cpu = (cpu_seconds(pid) - before) * 1e6 / max(result.requests, 1) if pid else None
    return Row(name, result, cpu)


def _peer(mode: str, port: int, backend: int, files: int) -> list[str]:
    """FastMCP's proxy (bench/peer_mcp_proxy.py) in its own environment, on the load core like
    the sidecar in (b)."""
    if not PEER_PYTHON.exists():
        raise RuntimeError(f"{PEER_PYTHON} is missing: ./bench/run makes it")
    return pinned(
        LOAD_CORE,
        [
            str(PEER_PYTHON),
            "-m",
            "bench.peer_mcp_proxy",
            str(port),
            mode,
            f"http://127.0.0.1:{backend}/mcp",
            f"http://127.0.0.1:{files}/jwks.json",
            ISSUER,
            f"{PUBLIC}/mcp",
        ],
    )


def run(seconds: float) -> list[Row]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "ES256"}
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        pem = Path(directory) / "public.pem"
        pem.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        (Path(directory) / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
        now = int(time.time())

        def token(audience: str) -> str:
            return jwt.encode(
                {"iss": ISSUER, "aud": audience, "sub": "bench", "iat": now, "exp": now + 3600},
                key,
                algorithm="ES256",
                headers={"kid": "k1"},
            )

        port = free_port()
        audience = f"http://127.0.0.1:{port}/mcp"
        command = pinned(
            PROXY_CORE,
            [sys.executable, "-m", "bench.mcp_server", str(port), "jwt", str(pem), ISSUER, audience],
        )
        with process(command, port):
            headers = {**MCP_HEADERS, "Authorization": f"Bearer {token(audience)}"}
            rows.append(
                _measure("(a) server checks JWTs itself", f"http://127.0.0.1:{port}/mcp", headers, seconds)
            )
        files = free_port()
        port = free_port()
        with contextlib.ExitStack() as stack:
            stack.enter_context(
                process(
                    [
                        sys.executable,
                        "-m",
                        "http.server",
                        str(files),
                        "--bind",
                        "127.0.0.1",
                        "--directory",
                        directory,
                    ],
                    files,
                )
            )
            stack.enter_context(
                process(
                    pinned(PROXY_CORE, [sys.executable, "-m", "bench.mcp_server", str(port), "none"]), port
                )
            )
            config = {
                "server": {"public_url": PUBLIC},
                "backends": [{"name": "mcp", "url": f"http://127.0.0.1:{port}/mcp", "path": "/mcp"}],
                "incoming_auth": {
                    "type": "oidc",
                    "oidc": {
                        "issuer": ISSUER,
                        "jwks_url": f"http://127.0.0.1:{files}/jwks.json",
                        "insecure_allow_http": True,
                        "allow_private_ip": True,
                    },
                },
            }
            # The same token for every proxy: its audience is the public URL of /mcp.
            headers = {**MCP_HEADERS, "Authorization": f"Bearer {token(f'{PUBLIC}/mcp')}"}
            with sidecar_process(config, core=LOAD_CORE) as (proxy, pid):
                name = "(b) server without auth behind the sidecar (JWT)"
                rows.append(_measure(name, f"http://127.0.0.1:{proxy}/mcp", headers, seconds, pid))
            for mode, name in (
                ("fresh", "(c) behind FastMCP's proxy (JWT), its default: a backend session per call"),
                ("fresh-tls", "(d) as (c), one TLS context for all its HTTP clients"),
                ("shared", "(e) behind FastMCP's proxy (JWT), one backend session shared by all calls"),
            ):
                proxy = free_port()
                with process(_peer(mode, proxy, port, files), proxy, cwd=REPO) as peer:
                    rows.append(_measure(name, f"http://127.0.0.1:{proxy}/mcp", headers, seconds, peer.pid))
    return rows


def peer_version() -> str:
    if not PEER_PYTHON.exists():
        return "not installed"
    command = [str(PEER_PYTHON), "-c", "import fastmcp; print(fastmcp.__version__)"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def report(rows: list[Row]) -> str:
    base = rows[0].result.requests_per_second
    sidecar = next((r.result.requests_per_second for r in rows if r.name.startswith("(b)")), None)
    lines = [
        "| setup | tools/call per s (8 conn) | / (a) | / (b) | p50 ms | p99 ms | proxy CPU µs per call "
        "| errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rps = row.result.requests_per_second
        vs_b = f"{rps / sidecar:.2f}" if sidecar else "-"
        cpu = f"{row.proxy_cpu_us:,.0f}" if row.proxy_cpu_us is not None else "-"
        lines.append(
            f"| {row.name} | {rps:,.0f} | {rps / base:.2f} | {vs_b} | {row.result.p50_ms:.2f} "
            f"| {row.result.p99_ms:.2f} | {cpu} | {row.result.errors} |"
        )
    lines.append(f"\nFastMCP {peer_version()} (bench/.peer-venv).")
    return "\n".join(lines)
