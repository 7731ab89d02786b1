# SPDX-License-Identifier: Apache-2.0
"""Real Redis servers for the tests: standalone, a master with a replica watched by three
sentinels, and a three-master Cluster, started from the ``redis-server`` and ``redis-sentinel``
binaries (Debian's packages; ``scripts/test`` installs them)."""

from __future__ import annotations

import os
import shutil
import signal
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


def fields(reply: str) -> dict[str, str]:
    """A flat RESP array of names and values (``SENTINEL MASTER``, ``INFO`` lines) as a dict."""
    if reply.startswith("$"):  # a bulk string: INFO's ``name:value`` lines
        return dict(line.split(":", 1) for line in reply.split("\r\n") if ":" in line)
    values = [line for line in reply.split("\r\n")[1:] if line and line[0] not in "*$"]
    return dict(zip(values[::2], values[1::2], strict=False))


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

    def kill(self) -> None:
        """SIGKILL: the server ends at once, without a chance to hand anything over."""
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGKILL)
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


MASTER_NAME = "sidecar"


@dataclass
class Sentinel:
    port: int
    config: Path
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, master_port: int) -> Sentinel:
        binary = shutil.which("redis-sentinel")
        if binary is None:
            raise RuntimeError("redis-sentinel is not installed (scripts/test installs it as root)")
        # Each sentinel rewrites its own file (it records the peers and replicas it found there).
        # Quorum 2 of 3; a master silent for 1 s is down, and a failover that stalls is retried
        # after 4 s, so a failover ends within seconds instead of the default minutes.
        self.config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.config.parent}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {MASTER_NAME} 4000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        self.popen = subprocess.Popen([binary, str(self.config)], stdout=subprocess.DEVNULL)
        _wait(lambda: "+PONG" in command(self.port, "PING"), f"sentinel on port {self.port} answering")
        return self

    def master(self) -> dict[str, str]:
        """What this sentinel knows of the master (``SENTINEL MASTER``)."""
        return fields(command(self.port, "SENTINEL", "MASTER", MASTER_NAME))

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)


@dataclass
class RedisSentinelServers:
    """A master, one replica and three sentinels (quorum 2) that fail over within seconds."""

    nodes: list[RedisNode]  # [master, replica] as started; after a failover, the roles swap
    sentinels: list[Sentinel]
    directory: Path

    @classmethod
    def start(cls) -> RedisSentinelServers:
        directory = Path(tempfile.mkdtemp(prefix="redis-sentinel-"))
        # A replica that (re)joins gets its full sync at once, not after Redis's default 5 s wait
        # for more replicas to share it.
        quick_sync = ("--repl-diskless-sync-delay", "0")
        master = RedisNode(free_port(), directory / "master", quick_sync)
        master.directory.mkdir()
        master.start()
        replica = RedisNode(
            free_port(), directory / "replica", (*quick_sync, "--replicaof", "127.0.0.1", str(master.port))
        )
        replica.directory.mkdir()
        replica.start()
        sentinels = [
            Sentinel(free_port(), directory / f"sentinel-{index}.conf").start(master.port)
            for index in range(3)
        ]
        servers = cls([master, replica], sentinels, directory)
        servers.wait_settled(master.port)
        return servers

    @property
    def addrs(self) -> list[str]:
        return [f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels]

    def master_port(self) -> int:
        """The master's port, as the first sentinel sees it."""
        return int(self.sentinels[0].master().get("port", "0"))

    def wait_settled(self, master_port: int, within: float = 30.0) -> None:
        """Every sentinel names ``master_port`` as the master, knows its two peers and a replica
        that is in sync (so a failover can start)."""

        def settled(sentinel: Sentinel) -> bool:
            master = sentinel.master()
            return (
                master.get("port") == str(master_port)
                and master.get("num-other-sentinels") == "2"
                and master.get("num-slaves") == "1"
                and "s_down" not in master.get("flags", "s_down")
            )

        _wait(lambda: all(settled(sentinel) for sentinel in self.sentinels), "the sentinels settling", within)
        replica = next(node for node in self.nodes if node.port != master_port)
        _wait(
            lambda: fields(command(replica.port, "INFO", "replication")).get("master_link_status") == "up",
            f"the replica on port {replica.port} in sync",
            within,
        )

    def node(self, port: int) -> RedisNode:
        return next(node for node in self.nodes if node.port == port)

    def rejoin(self, node: RedisNode) -> None:
        """Start a killed node again as a replica of the current master, empty (no persistence),
        as a restarted pod of a Sentinel chart does."""
        node.extra = ("--repl-diskless-sync-delay", "0", "--replicaof", "127.0.0.1", str(self.master_port()))
        node.start()

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.directory, ignore_errors=True)
