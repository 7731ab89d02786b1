# SPDX-License-Identifier: Apache-2.0
"""``mcp-sidecar demo``: start the demo MCP server on loopback and the sidecar in front of it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from typing import Any

from sidecar.config import Settings, load_config_data
from sidecar.config.passwords import hash_password
from sidecar.observability.logging import configure_logging

DEMO_USER, DEMO_PASSWORD = "demo", "demo"


def demo_settings(port: int, backend_port: int, *, anonymous: bool = False) -> Settings:
    """The embedded default configuration of the demo: Mode B with one static user, or with
    ``anonymous`` the plain proxy (Mode A, no authentication)."""
    public = f"http://127.0.0.1:{port}"
    raw: dict[str, Any] = {
        "server": {
            "host": "127.0.0.1",
            "port": port,
            "public_url": public,
            "drain_timeout": "2s",
            "allowed_origins": ["http://localhost:6274", "http://127.0.0.1:6274"],
        },  # MCP Inspector
        "backends": [
            {
                "name": "demo",
                "url": f"http://127.0.0.1:{backend_port}/mcp",
                "path": "/mcp",
                "sse_path": "/sse",
                "messages_path": "/messages/",
            }
        ],
    }
    if not anonymous:
        raw["incoming_auth"] = {"type": "oidc", "oidc": {"issuer": public}}
        raw["auth_server"] = {
            "issuer": public,
            "allowed_audiences": [f"{public}/mcp", f"{public}/sse", f"{public}/messages"],
            "upstreams": [
                {
                    "name": "demo-users",
                    "type": "static",
                    "static_config": {
                        "users": [
                            {
                                "username": DEMO_USER,
                                "password_hash": hash_password(DEMO_PASSWORD),
                                "name": "Demo User",
                            }
                        ]
                    },
                }
            ],
        }
    return load_config_data(raw)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def run_demo(port: int, *, anonymous: bool = False) -> int:
    try:
        import mcp  # noqa: F401, PLC0415 - only to give a clear message when the extra is missing
    except ImportError:
        print("mcp-sidecar demo needs the MCP SDK: pip install 'mcp-auth-sidecar[demo]'", file=sys.stderr)
        return 1
    from sidecar.server import run  # noqa: PLC0415

    backend_port = _free_port()
    backend = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "sidecar.demo.server", "--port", str(backend_port)]
    )
    try:
        if not _wait_for_port(backend_port, 30):
            print("the demo MCP server did not start", file=sys.stderr)
            return 1
        configure_logging("info", "auto")
        settings = demo_settings(port, backend_port, anonymous=anonymous)
        login = "no login (anonymous)" if anonymous else f"log in as {DEMO_USER} / {DEMO_PASSWORD}"
        banner = (
            f"\n  MCP endpoint (streamable HTTP): http://127.0.0.1:{port}/mcp   ({login})"
            f"\n  legacy HTTP+SSE endpoint:       http://127.0.0.1:{port}/sse"
            f"\n  metrics: http://127.0.0.1:{port}/metrics   readiness: http://127.0.0.1:{port}/readyz"
            f"\n  Point an MCP client at the first URL (examples/mcp_client.py is one); Ctrl-C stops.\n"
        )
        # Only once the port is open: a demo that cannot listen must not invite clients to it.
        run(settings, on_listening=lambda: print(banner, flush=True))
    finally:
        backend.terminate()
        backend.wait(10)
    return 0
