# SPDX-License-Identifier: Apache-2.0
"""Scenario 8, tracing: what ``telemetry.tracing`` costs on scenario 1's pass-through.

Rows: a build without tracing code (``--baseline REF``, by default the merge base of ``HEAD`` and
``main``, exported with ``git archive`` and run from that folder; it must need no package this
venv lacks), this build with tracing off (the default), and this build
with tracing on — every trace recorded and exported, and none (``sampling_ratio: 0``: spans are
made and propagated, nothing is exported). The collector is the nginx backend itself, answering
``200`` to ``POST /v1/traces`` on core 1. Rows run in two interleaved rounds, so a slow spell of
the shared machine does not land on one row only. On a shared machine, read the CPU time per
request (the sidecar's own, every thread counted, the exporter's included): it hardly moves with
the neighbours' load, where requests per second and latency do.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import (
    LOAD_CORE,
    NGINX_BACKEND,
    RPC_RESPONSE,
    WrkResult,
    cpu_seconds,
    git_build,
    nginx,
    post_script,
    sidecar_process,
    wrk,
)
from bench.proxy import REQUEST

ROUNDS = 3
CONNECTIONS = 32


@dataclass(frozen=True)
class Row:
    name: str
    round: int
    single: WrkResult  # 1 connection: latency
    many: WrkResult  # CONNECTIONS connections: throughput and CPU
    cpu_us: float  # the sidecar's CPU time per request under load


@dataclass(frozen=True)
class Setup:
    name: str
    telemetry: dict[str, Any] | None  # None: the key is not written (the baseline has no such key)
    baseline: bool = False


def run(seconds: float, baseline: str | None = None) -> tuple[list[Row], list[HookCost]]:
    rows: list[Row] = []
    with (
        nginx(NGINX_BACKEND, LOAD_CORE, discovery="{}", jwks="{}", body=RPC_RESPONSE) as backend,
        git_build(baseline) as (old, commit),
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
        for round_ in range(1, ROUNDS + 1):
            rows.extend(_measure(setup, backend, old, seconds, round_) for setup in setups)
        costs = hook_costs(collector)
    return rows, costs


def _measure(setup: Setup, backend: int, old: Path, seconds: float, round_: int) -> Row:
    config: dict[str, Any] = {
        "backends": [{"name": "fast", "url": f"http://127.0.0.1:{backend}/", "path": "/b"}]
    }
    if setup.telemetry is not None:
        config["telemetry"] = setup.telemetry
    script = post_script(REQUEST, {})
    with sidecar_process(config, source=old if setup.baseline else None) as (port, pid):
        url = f"http://127.0.0.1:{port}/b/"
        wrk(url, connections=1, seconds=min(seconds, 2), script=script)  # warm-up
        single = wrk(url, connections=1, seconds=seconds, script=script)
        before = cpu_seconds(pid)
        many = wrk(url, connections=CONNECTIONS, seconds=seconds, script=script)
        cpu = cpu_seconds(pid) - before  # every thread of the process: the exporter's too
    requests = many.requests_per_second * max(1, round(seconds))  # wrk runs whole seconds
    return Row(setup.name, round_, single, many, cpu * 1e6 / requests)


@dataclass(frozen=True)
class HookCost:
    name: str
    ns_per_request: float


def hook_costs(collector: str, iterations: int = 20000) -> list[HookCost]:
    """In-process, on one core and without the network: what one request's tracing calls cost.

    Off: the forwarder's two hooks as they run (``NO_TRACING``). On: the same hooks of a real
    ``Tracing`` (SDK, batch processor, OTLP exporter to ``collector``) inside a server span, as
    the middleware starts it; the export thread's work is not in this number (it is in the CPU
    column of the table above)."""
    from multidict import CIMultiDict  # noqa: PLC0415 - only for this measurement
    from opentelemetry import context  # noqa: PLC0415
    from opentelemetry.trace import SpanKind  # noqa: PLC0415
    from yarl import URL  # noqa: PLC0415

    from sidecar.config import load_config_data  # noqa: PLC0415
    from sidecar.observability.spans import NO_TRACING, RequestTracing  # noqa: PLC0415
    from sidecar.observability.tracing import Tracing  # noqa: PLC0415

    target, headers = URL("http://127.0.0.1:3001/mcp"), CIMultiDict[str]()

    def hooks(tracing: RequestTracing) -> None:
        with tracing.authentication():
            pass
        with tracing.backend_call("fast", "POST", target, headers) as call:
            call.responded(200)

    def per_request(run: Callable[[], None]) -> float:
        best = min(timeit.repeat(run, number=iterations, repeat=3))
        return best / iterations * 1e9

    costs = [
        HookCost("nothing (an empty function call, for scale)", per_request(lambda: None)),
        HookCost("tracing off: the two hooks", per_request(lambda: hooks(NO_TRACING))),
    ]
    for ratio in (1.0, 0.0):
        raw = {"enabled": True, "endpoint": collector, "sampling_ratio": ratio}
        backends = [{"name": "fast", "url": str(target), "path": "/b"}]
        tracing = Tracing(load_config_data({"backends": backends, "telemetry": {"tracing": raw}}))

        def request(tracing: Tracing = tracing) -> None:
            with tracing.tracer.start_as_current_span(
                "POST /b", context=context.Context(), kind=SpanKind.SERVER, attributes={"http.route": "/b"}
            ):
                hooks(tracing)

        costs.append(
            HookCost(
                f"tracing on, sampling_ratio {ratio:g}: server span and the two hooks", per_request(request)
            )
        )
        tracing.provider.shutdown()
    return costs


def report_hooks(costs: list[HookCost]) -> str:
    lines = ["| per request | ns |", "|---|---|"]
    lines += [f"| {cost.name} | {cost.ns_per_request:,.0f} |" for cost in costs]
    return "\n".join(lines)


def report(result: tuple[list[Row], list[HookCost]]) -> str:
    """Per setup, the median over the rounds (the rounds alternate the setups); then the hooks."""
    rows, costs = result
    names = list(dict.fromkeys(row.name for row in rows))
    lines = [
        f"| sidecar | CPU µs per request ({CONNECTIONS} conn) | / baseline | req/s ({CONNECTIONS} conn) "
        "| p50 ms (1 conn) | p99 ms | rounds | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base_cpu = 0.0
    for name in names:
        mine = [row for row in rows if row.name == name]
        cpu = statistics.median(row.cpu_us for row in mine)
        base_cpu = base_cpu or cpu
        lines.append(
            f"| {name} | {cpu:.0f} | {cpu / base_cpu:.2f} "
            f"| {statistics.median(row.many.requests_per_second for row in mine):,.0f} "
            f"| {statistics.median(row.single.p50_ms for row in mine):.3f} "
            f"| {statistics.median(row.single.p99_ms for row in mine):.3f} | {len(mine)} "
            f"| {sum(row.single.errors + row.many.errors for row in mine)} |"
        )
    return "\n".join(lines) + "\n\n" + report_hooks(costs)
