# SPDX-License-Identifier: Apache-2.0
"""Scenario 2, a real MCP server (official SDK, stateless JSON mode), ``tools/call`` of a small
tool: (a) the server checking JWTs itself (the SDK's bearer middleware with a PyJWT verifier)
versus (b) the same server without auth behind the sidecar checking the same JWTs.

Cores: the MCP server on core 0 in both; in (b) the sidecar shares core 1 with wrk."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from bench.harness import (
    LOAD_CORE,
    PROXY_CORE,
    WrkResult,
    free_port,
    pinned,
    post_script,
    process,
    sidecar,
    wrk,
)

CALL = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"add","arguments":{"a":1,"b":2}}}'
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
ISSUER = "https://issuer.bench.example"
PUBLIC = "https://mcp.bench.example"


@dataclass(frozen=True)
class Row:
    name: str
    result: WrkResult


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
            script = post_script(CALL, {**MCP_HEADERS, "Authorization": f"Bearer {token(audience)}"})
            wrk(f"http://127.0.0.1:{port}/mcp", connections=8, seconds=1, script=script)
            rows.append(
                Row(
                    "(a) server checks JWTs itself",
                    wrk(f"http://127.0.0.1:{port}/mcp", connections=8, seconds=seconds, script=script),
                )
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
            proxy = stack.enter_context(sidecar(config, core=LOAD_CORE))
            script = post_script(CALL, {**MCP_HEADERS, "Authorization": f"Bearer {token(f'{PUBLIC}/mcp')}"})
            url = f"http://127.0.0.1:{proxy}/mcp"
            wrk(url, connections=8, seconds=1, script=script)
            rows.append(
                Row(
                    "(b) server without auth behind the sidecar (JWT)",
                    wrk(url, connections=8, seconds=seconds, script=script),
                )
            )
    return rows


def report(rows: list[Row]) -> str:
    base = rows[0].result.requests_per_second
    lines = [
        "| setup | tools/call per s (8 conn) | / (a) | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {row.name} | {row.result.requests_per_second:,.0f} | {row.result.requests_per_second / base:.2f} "
        f"| {row.result.p50_ms:.2f} | {row.result.p99_ms:.2f} | {row.result.errors} |"
        for row in rows
    ]
    return "\n".join(lines)
