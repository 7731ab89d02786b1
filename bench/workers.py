# SPDX-License-Identifier: Apache-2.0
"""Scenario 6, workers: anonymous pass-through with ``server.workers: 1`` and ``2``.

Every process may use every core here (the sidecar's workers, the nginx backend and ``wrk``), as
in a pod whose CPU limit they share; on a machine with as many cores as the whole setup needs,
pin them apart instead. Besides requests per second, the sidecar's own CPU time is read from
``/proc`` (the supervisor and its workers), so requests per CPU-second shows whether the workers
scale when they are given the cores.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.harness import (
    ALL_CORES,
    NGINX_BACKEND,
    RPC_RESPONSE,
    WrkResult,
    cpu_seconds,
    nginx,
    post_script,
    sidecar_process,
    wrk,
)
from bench.proxy import REQUEST

CONNECTIONS = 64
ROUNDS = 2


@dataclass(frozen=True)
class Row:
    workers: int
    round: int
    result: WrkResult
    cpu_seconds: float
    seconds: float

    @property
    def requests_per_cpu_second(self) -> float:
        return self.result.requests_per_second * self.seconds / self.cpu_seconds


def _measure(workers: int, backend: int, seconds: float, round_: int) -> Row:
    config = {
        "server": {"workers": workers},
        "backends": [{"name": "fast", "url": f"http://127.0.0.1:{backend}/", "path": "/b"}],
    }
    script = post_script(REQUEST, {})
    with sidecar_process(config, ALL_CORES) as (port, pid):
        url = f"http://127.0.0.1:{port}/b/"
        wrk(url, connections=CONNECTIONS, seconds=min(seconds, 2), script=script, core=ALL_CORES)
        before = cpu_seconds(pid)
        result = wrk(url, connections=CONNECTIONS, seconds=seconds, script=script, core=ALL_CORES)
        # wrk runs whole seconds.
        return Row(workers, round_, result, cpu_seconds(pid) - before, max(1, round(seconds)))


def run(seconds: float) -> list[Row]:
    rows: list[Row] = []
    with nginx(NGINX_BACKEND, ALL_CORES, discovery="{}", jwks="{}", body=RPC_RESPONSE) as backend:
        # Alternated, so a noisy neighbour on a shared machine weighs on both.
        for round_ in range(1, ROUNDS + 1):
            rows.extend(_measure(workers, backend, seconds, round_) for workers in (1, 2))
    return rows


def report(rows: list[Row]) -> str:
    lines = [
        f"| workers | round | req/s ({CONNECTIONS} conn) | / 1 worker | p50 ms | p99 ms "
        "| sidecar CPU s | req per sidecar CPU-s | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    one = {row.round: row for row in rows if row.workers == 1}
    for row in rows:
        rps = row.result.requests_per_second
        ratio = rps / one[row.round].result.requests_per_second
        lines.append(
            f"| {row.workers} | {row.round} | {rps:,.0f} | {ratio:.2f} "
            f"| {row.result.p50_ms:.3f} | {row.result.p99_ms:.3f} | {row.cpu_seconds:.1f} "
            f"| {row.requests_per_cpu_second:,.0f} | {row.result.errors} |"
        )
    return "\n".join(lines)
