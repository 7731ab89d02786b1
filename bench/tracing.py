# SPDX-License-Identifier: Apache-2.0
"""Scenario 8, tracing: what ``telemetry.tracing`` costs on scenario 1's pass-through.

Rows: a build without tracing code (``--baseline REF``, by default the merge base of ``HEAD`` and
``main``, exported with ``git archive`` and run from that folder; it must need no package this
venv lacks), this build with tracing off (the default), and this build
with tracing on — every trace recorded and exported, and none (``sampling_ratio: 0``: spans are
made and propagated, nothing is exported). The collector is the nginx backend itself, answering
``200`` to ``POST /v1/traces`` on core 1. Rows run in two interleaved rounds, so a slow spell of
the shared machine does not land on one row only.
"""

from __future__ import annotations

import contextlib
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from bench.harness import LOAD_CORE, NGINX_BACKEND, RPC_RESPONSE, nginx, sidecar_process
from bench.proxy import Row, measure

ROUNDS = 2


@dataclass(frozen=True)
class Setup:
    name: str
    telemetry: dict[str, Any] | None  # None: the key is not written (the baseline has no such key)
    baseline: bool = False


@contextlib.contextmanager
def _build(ref: str) -> Iterator[tuple[Path, str]]:
    """The ``sidecar`` package of ``ref``, in a temporary folder; and the commit it names."""
    commit = _git("rev-parse", "--short", ref)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "sidecar"], capture_output=True, check=True
    )
    with tempfile.TemporaryDirectory() as directory, tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(directory, filter="data")
        yield Path(directory), commit


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()


def run(seconds: float, baseline: str | None = None) -> list[Row]:
    baseline = baseline or _git("merge-base", "HEAD", "main")
    rows: dict[str, list[Row]] = {}
    with (
        nginx(NGINX_BACKEND, LOAD_CORE, discovery="{}", jwks="{}", body=RPC_RESPONSE) as backend,
        _build(baseline) as (old, commit),
    ):
        collector = f"http://127.0.0.1:{backend}/v1/traces"
        setups = [
            Setup(f"build {commit}, without tracing code", None, baseline=True),
            Setup("this build, tracing off", {"tracing": {"enabled": False}}),
            Setup(
                "this build, tracing on, sampling_ratio 1",
                {"tracing": {"enabled": True, "endpoint": collector, "sampling_ratio": 1.0}},
            ),
            Setup(
                "this build, tracing on, sampling_ratio 0",
                {"tracing": {"enabled": True, "endpoint": collector, "sampling_ratio": 0.0}},
            ),
        ]
        for _round in range(ROUNDS):
            for setup in setups:
                config: dict[str, Any] = {
                    "backends": [{"name": "fast", "url": f"http://127.0.0.1:{backend}/", "path": "/b"}]
                }
                if setup.telemetry is not None:
                    config["telemetry"] = setup.telemetry
                with sidecar_process(config, source=old if setup.baseline else None) as (port, _pid):
                    row = measure(setup.name, f"http://127.0.0.1:{port}/b/", seconds, {})
                rows.setdefault(setup.name, []).append(row)
    return [_best(name, measured) for name, measured in rows.items()]


def _best(name: str, rows: list[Row]) -> Row:
    """Each row's best round (lowest p50, highest req/s): the noise of a shared VM only adds."""
    single = min((r.single for r in rows), key=lambda result: result.p50_ms)
    many = max((r.many for r in rows), key=lambda result: result.requests_per_second)
    return Row(name, single, many)


def report(rows: list[Row]) -> str:
    base = rows[0]
    lines = [
        "| sidecar | p50 ms (1 conn) | p99 ms | p50 - baseline ms | req/s (32 conn) | / baseline | errors |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.name} | {row.single.p50_ms:.3f} | {row.single.p99_ms:.3f} "
            f"| {row.single.p50_ms - base.single.p50_ms:+.3f} | {row.many.requests_per_second:,.0f} "
            f"| {row.many.requests_per_second / base.many.requests_per_second:.2f} "
            f"| {row.single.errors + row.many.errors} |"
        )
    return "\n".join(lines)
