# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.support import Process, free_port


@pytest.fixture(scope="session")
def mcp_server() -> Iterator[str]:
    """A real MCP server (official SDK, both transports) on loopback, shared by the whole run
    (it keeps no state between tests); yields its origin."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "sidecar.demo.server", "--port", str(port)])
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("the MCP test server did not start") from None
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    Process(process, port).stop()
