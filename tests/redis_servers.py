# SPDX-License-Identifier: Apache-2.0
"""Real Redis servers for the tests: standalone and a three-master Cluster, started from the
``redis-server`` binary (Debian's package; ``scripts/test`` installs it)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.support import free_port


def _wait(condition: Callable[[], bool], what: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {within:.0f} s")
        time.sleep(0.05)


def command(port: int, *args: str) -> str:
    """One command over a plain socket (RESP inline), the reply's first line; '' when down."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall((" ".join(args) + "\r\n").encode())
            return sock.recv(65536).decode(errors="replace")
    except OSError:
        return ""


@dataclass
class RedisNode:
    port: int
    directory: Path
    extra: tuple[str, ...] = ()
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> RedisNode:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (scripts/test installs it as root)")
        self.popen = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
        )
        _wait(lambda: "+PONG" in command(self.port, "PING"), f"redis on port {self.port} answering")
        return self

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)


@dataclass
class RedisServer:
    """A standalone server in a temporary directory."""

    node: RedisNode

    @classmethod
    def start(cls) -> RedisServer:
        return cls(RedisNode(free_port(), Path(tempfile.mkdtemp(prefix="redis-"))).start())

    @property
    def port(self) -> int:
        return self.node.port

    def stop(self) -> None:
        self.node.stop()
        shutil.rmtree(self.node.directory, ignore_errors=True)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and exists too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


@dataclass
class RedisClusterServers:
    """Three masters, no replicas, every slot assigned."""

    nodes: list[RedisNode]

    @classmethod
    def start(cls) -> RedisClusterServers:
        directory = Path(tempfile.mkdtemp(prefix="redis-cluster-"))
        nodes = []
        for _ in range(3):
            port = _cluster_port()
            extra = ("--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf")
            nodes.append(RedisNode(port, directory, extra).start())
        subprocess.run(
            [
                shutil.which("redis-cli") or "redis-cli",
                "--cluster",
                "create",
                *[f"127.0.0.1:{n.port}" for n in nodes],
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for node in nodes:
            _wait(
                lambda node=node: "cluster_state:ok" in command(node.port, "CLUSTER", "INFO"),  # type: ignore[misc]
                f"cluster node {node.port} ready",
            )
        return cls(nodes)

    @property
    def port(self) -> int:
        return self.nodes[0].port

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.nodes[0].directory, ignore_errors=True)
