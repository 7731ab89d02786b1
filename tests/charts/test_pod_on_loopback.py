# SPDX-License-Identifier: Apache-2.0
"""The rendered pod played on loopback: the sidecar started as its container would be (the
rendered args and environment, config.yaml where the ConfigMap puts it) in front of a real MCP
server standing in for the user's image. The probes, the scrape annotations and the Service's
target port answer as the kubelet, Prometheus and a client use them, and SIGTERM stops it
cleanly within the grace period."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path, PurePosixPath
from typing import Any

import aiohttp
from mcp import Client

from tests.charts.rendering import CONFIG_DIR, Rendered, lay_out_pod_files, render
from tests.support import Process, free_port, wait_for


def _environment(rendered: Rendered, root: Path) -> dict[str, str]:
    """The container's environment, with its paths under /etc/mcp-sidecar and /tmp moved to
    where this test laid the pod's files out."""
    env = dict(os.environ)
    (root / "tmp").mkdir()
    for variable in rendered.sidecar["env"]:
        value = PurePosixPath(variable["value"])
        if value.is_relative_to(CONFIG_DIR):
            env[variable["name"]] = str(root / value.relative_to(CONFIG_DIR))
        elif value == PurePosixPath("/tmp"):  # noqa: S108 - the container's own emptyDir
            env[variable["name"]] = str(root / "tmp")
        else:
            env[variable["name"]] = variable["value"]
    return env


def _port(rendered: Rendered, probe: dict[str, Any]) -> int:
    named = {port["name"]: port["containerPort"] for port in rendered.sidecar["ports"]}
    port = probe["httpGet"]["port"]
    return int(named.get(port, port))


async def test_rendered_pod_serves_probes_metrics_and_mcp(mcp_server: str, tmp_path: Path) -> None:
    """Readiness turns 200 once the MCP server is probed; liveness and startup answer 200; the
    annotated metrics port serves the sidecar's metrics; a client calls a tool through the
    Service's target port; SIGTERM ends the process with code 0."""
    values = {
        "mcpServer": {
            "image": {"repository": "ghcr.io/example/mcp-server"},
            "port": int(mcp_server.rsplit(":", maxsplit=1)[-1]),
        },
        "sidecar": {"port": free_port(), "metricsPort": free_port()},
        # Loopback only: the pod's network namespace is this machine's, shared with other tests.
        "config": {"server": {"host": "127.0.0.1", "shutdown_delay": "0s", "drain_timeout": "1s"}},
    }
    rendered = render(values)
    lay_out_pod_files(rendered, tmp_path)
    service_port = rendered.one("Service")["spec"]["ports"][0]["targetPort"]
    sidecar = await Process.start(
        ["-m", "sidecar", *rendered.sidecar["args"]], service_port, env=_environment(rendered, tmp_path)
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def answers(probe: dict[str, Any]) -> int:
                url = f"http://127.0.0.1:{_port(rendered, probe)}{probe['httpGet']['path']}"
                async with http.get(url) as response:
                    return response.status

            readiness = rendered.sidecar["readinessProbe"]

            async def ready() -> bool:
                return await answers(readiness) == 200

            await wait_for(ready, 20, what="the readiness probe answering 200")
            for name in ("startupProbe", "livenessProbe"):
                assert await answers(rendered.sidecar[name]) == 200, name

            annotations = rendered.pod["metadata"]["annotations"]
            metrics = (
                f"http://127.0.0.1:{annotations['prometheus.io/port']}{annotations['prometheus.io/path']}"
            )
            async with http.get(metrics) as response:
                assert response.status == 200
                assert "mcp_sidecar_build_info" in await response.text()

        async with Client(f"http://127.0.0.1:{service_port}/mcp") as client:
            result = await client.call_tool("add", {"a": 2, "b": 40})
        assert result.structured_content == {"result": 42}

        sidecar.popen.send_signal(signal.SIGTERM)
        grace = rendered.pod["spec"]["terminationGracePeriodSeconds"]
        assert await asyncio.to_thread(sidecar.popen.wait, grace) == 0
    finally:
        sidecar.stop()
