# SPDX-License-Identifier: Apache-2.0
"""Scenario 10, the sidecar's own work per request: what it adds to the HTTP stack, step by step.

Two measurements, each of a baseline build (``--baseline REF``, by default the merge base of
``HEAD`` and ``main``, exported with ``git archive``) and of this build, in the same run:

- **In process, per step** (``python -m bench.ownwork``, one process per build, no network, no
  aiohttp server or client): a ``tools/call`` POST with the headers an MCP client sends (``Host``,
  ``Content-Type``, ``Accept``, ``Mcp-Session-Id``, ``MCP-Protocol-Version``, a bearer JWT already
  in the verified-token cache, ``User-Agent``, ``Content-Length``) is a real ``web.Request``; each
  step the forwarder and the access middleware take is timed on it, then the whole handler with
  the access middleware around it, the backend exchange stubbed (the forwarder's ``_send`` and its
  relay's client side: what remains is the sidecar's work plus one ``web.Response``).
- **Under wrk** (32 connections, the proxy on its own core): CPU time per request of the two
  Python reference proxies of scenario 1 (the ceiling, asyncio + httptools, and the bare aiohttp
  proxy), of the baseline build and of this build, in interleaved rounds. For a baseline whose
  backend client was aiohttp's, its CPU less the bare aiohttp proxy's is its own work; since the
  sidecar has its own backend pool, no reference proxy shares its stack exactly, and the
  in-process table is the measure of its own work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import jwt
import structlog
import uvloop
from aiohttp import web
from aiohttp.http import HttpVersion11
from aiohttp.http_parser import RawRequestMessage
from aiohttp.streams import StreamReader
from cryptography.hazmat.primitives.asymmetric import ec
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bench import proxy
from bench.harness import (
    PROXY_CORE,
    cpu_seconds,
    free_port,
    git_build,
    pinned,
    post_script,
    process,
    sidecar_process,
    wrk,
)

PUBLIC = "https://mcp.bench.example"
HOST = "mcp.bench.example"
PATH = "/mcp"
BODY = (
    b'{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"get_weather",'
    b'"arguments":{"city":"Berlin","units":"metric"},"_meta":{"progressToken":42}}}'
)
CLIENT_HEADERS = {
    "Host": HOST,
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "Mcp-Session-Id": "3f2c9a1e5b7d4c1f8e6a2b0d9c7e5a3f",
    "MCP-Protocol-Version": "2025-11-25",
    "User-Agent": "mcp-client/1.4 (node)",
    "Content-Length": str(len(BODY)),
}
BACKEND_HEADERS = {
    "Content-Type": "application/json",
    "Content-Length": "58",
    "Mcp-Session-Id": "3f2c9a1e5b7d4c1f8e6a2b0d9c7e5a3f",
    "Date": "Tue, 28 Jul 2026 10:00:00 GMT",
    "Server": "uvicorn",
}
BACKEND_BODY = b'{"jsonrpc":"2.0","id":42,"result":{"content":[],"isError":false}}'
ROUNDS = 3
CONNECTIONS = 32


# --- in process: one build's steps ---------------------------------------------------------------


class _Transport:
    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, _name: str, default: object = None) -> object:
        return default


class _Protocol:
    """What ``web.Request`` and its ``StreamReader`` read from aiohttp's protocol."""

    ssl_context = None
    peername = ("10.0.0.7", 51234)
    sockname = ("10.0.0.2", 8080)
    transport = _Transport()
    max_field_size = max_line_length = 8190
    max_headers = 128
    _reading_paused = False

    def pause_reading(self) -> None:
        return None

    def resume_reading(self, resume_parser: bool = True) -> None:
        return None


def _request(headers: CIMultiDictProxy[str], loop: asyncio.AbstractEventLoop) -> web.Request:
    """A request as aiohttp's server hands it over: head parsed, the whole (small) body arrived."""
    protocol: Any = _Protocol()
    payload = StreamReader(protocol, 2**16, loop=loop)
    payload.feed_data(BODY)
    payload.feed_eof()
    raw = tuple((k.encode(), v.encode()) for k, v in headers.items())
    url = URL.build(path=PATH, encoded=True)
    message = RawRequestMessage("POST", PATH, HttpVersion11, headers, raw, False, None, False, False, url)
    return web.Request(message, payload, protocol, None, None, loop)  # type: ignore[arg-type]


class _BackendResponse:
    """The stubbed backend exchange's result: just what the forwarder reads of it."""

    status = 200

    class content:
        @staticmethod
        def at_eof() -> bool:
            return True

    def release(self) -> None:
        return None

    def close(self) -> None:
        return None


def _settings() -> Any:
    from sidecar.config import load_config_data  # noqa: PLC0415 - imported from the build measured

    return load_config_data(
        {
            "server": {"public_url": PUBLIC, "allowed_hosts": [HOST]},
            "backends": [{"name": "tools", "url": "http://127.0.0.1:3001/mcp", "path": PATH}],
            "incoming_auth": {
                "type": "oidc",
                "oidc": {"issuer": "https://idp.bench.example"},
            },
        }
    )


async def _timed(
    step: Callable[[web.Request], Awaitable[object]], requests: Callable[[], web.Request], count: int
) -> float:
    """CPU µs of ``step`` per fresh request (made outside the timed part): the mean of the
    quickest of five rounds. CPU time of this thread, not wall time, so the neighbours on a
    shared machine do not land in the number. Requests are made 50 at a time, about as many as
    a loaded server holds at once (more live objects would lengthen the garbage collector's
    passes beyond the server's)."""
    clock = time.thread_time
    rounds: list[float] = []
    for _ in range(5):
        total, done, per_round = 0.0, 0, max(1, count // 5)
        while done < per_round:
            fresh = [requests() for _ in range(min(50, per_round - done))]
            gc.collect()
            started = clock()
            for request in fresh:
                await step(request)
            total += clock() - started
            done += len(fresh)
        rounds.append(total / per_round)
    return min(rounds) * 1e6


async def measure_steps(iterations: int, sink: TextIO) -> dict[str, float]:  # noqa: PLR0915 - one scenario, in order
    """Per step, mean µs per request, for the ``sidecar`` package this process imports."""
    from sidecar.app import create_app  # noqa: PLC0415 - imported from the build measured
    from sidecar.authn.keys import StaticKeyProvider, key_from_jwk  # noqa: PLC0415
    from sidecar.observability.access import REQUEST_INFO, RequestInfo  # noqa: PLC0415
    from sidecar.observability.logging import configure_logging  # noqa: PLC0415
    from sidecar.proxy import jsonrpc  # noqa: PLC0415
    from sidecar.proxy.forwarder import Forwarder  # noqa: PLC0415
    from sidecar.proxy.headers import (  # noqa: PLC0415
        request_headers_for_backend,
        response_headers_for_client,
    )
    from sidecar.proxy.origin import request_authority  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    jwk = {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())), "kid": "bench-1"}
    verification = key_from_jwk(jwk)
    assert not isinstance(verification, str)
    settings = _settings()
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": "https://idp.bench.example",
        "aud": f"{PUBLIC}{PATH}",
        "sub": "user-1234",
    }
    claims |= {"client_id": "client-1", "scope": "mcp", "iat": now, "exp": now + 3600}
    token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": "bench-1"})
    headers = CIMultiDictProxy(CIMultiDict({**CLIENT_HEADERS, "Authorization": f"Bearer {token}"}))
    # The log setup the server uses (JSON lines), writing where nobody reads.
    with contextlib.redirect_stdout(sink):
        configure_logging("info", "json")
    app = create_app(settings, key_provider=StaticKeyProvider([verification]))
    middleware = app.middlewares[0]
    forwarder = next(
        route.handler.__self__  # type: ignore[attr-defined]
        for route in app.router.routes()
        if isinstance(getattr(route.handler, "__self__", None), Forwarder)
    )
    assert isinstance(forwarder, Forwarder)
    loop = asyncio.get_running_loop()

    def fresh() -> web.Request:
        request = _request(headers, loop)
        request[REQUEST_INFO] = RequestInfo(request_id="00000000000000000000000a", started=0.0)
        return request

    backend_headers = CIMultiDictProxy(CIMultiDict(BACKEND_HEADERS))
    canned = web.Response(body=b"{}")

    async def noop(_request: web.Request) -> web.StreamResponse:
        return canned

    async def access(request: web.Request) -> None:
        await middleware(request, noop)

    async def host_origin_forwarded(request: web.Request) -> None:
        headers = request.headers
        authority = request_authority(headers.get("Host"), request.raw_path)
        own_host = authority if authority is not None else request.host
        trust: Any = forwarder._trust
        if hasattr(trust, "from_headers"):  # what the forwarder calls since it exists
            trust.from_headers(
                request.remote or "", own_proto=request.scheme, own_host=own_host, headers=headers
            )
        else:
            trust.resolve(
                request.remote or "",
                own_proto=request.scheme,
                own_host=own_host,
                xff=headers.getall("X-Forwarded-For", ()),
                xf_proto=headers.get("X-Forwarded-Proto"),
                xf_host=headers.get("X-Forwarded-Host"),
            )
        forwarder._hosts.allows(authority)
        headers.getall("Origin", [])

    async def confinement(request: web.Request) -> None:
        forwarder.route.target_for(request.rel_url.raw_path, request.rel_url.raw_query_string)

    async def authentication(request: web.Request) -> None:
        await forwarder._identify(request, request[REQUEST_INFO])

    async def body(request: web.Request) -> None:
        await forwarder._body(request)

    async def rpc_summary(_request: web.Request) -> None:
        rpc = jsonrpc.summarize(BODY)
        assert rpc is not None
        forwarder._metrics.count_mcp("tools", rpc.method)

    async def request_headers(request: web.Request) -> None:
        info = request[REQUEST_INFO]
        extra = {
            "X-Forwarded-For": "10.0.0.7",
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Host": HOST,
            "X-Request-Id": info.request_id,
        }
        request_headers_for_backend(
            request.headers,
            forwarded=extra,
            drop=forwarder._drop,
            backend_origin=forwarder.route.target_origin,
            keep_content_length=False,
        )

    async def response_headers(_request: web.Request) -> None:
        response_headers_for_client(backend_headers, is_event_stream=False)["X-Request-Id"] = "x"

    async def send(*_args: object) -> _BackendResponse:
        return _BackendResponse()

    class Relay:
        async def relay(
            self, _request: web.Request, _backend: object, info: RequestInfo, *_rest: object
        ) -> web.Response:
            out = response_headers_for_client(backend_headers, is_event_stream=False)
            out["X-Request-Id"] = info.request_id
            info.first_byte = time.perf_counter()
            return web.Response(status=200, body=BACKEND_BODY, headers=out)

    # SECURITY of the measurement: the stubs replace only the aiohttp client side.
    vars(forwarder)["_send"] = send
    vars(forwarder)["_relay"] = Relay()

    async def whole(request: web.Request) -> None:
        response = await middleware(request, forwarder.handle)
        assert response.status == 200, response.status

    async def response_only(_request: web.Request) -> None:
        await Relay().relay(_request, None, RequestInfo("x", 0.0))

    def plain() -> web.Request:
        return _request(headers, loop)

    await whole(plain())  # fills the token cache, the metric children, the logger cache
    gc.collect()
    gc.freeze()  # what start-up made stays out of the collections the timed requests cause
    steps: list[tuple[str, Callable[[web.Request], Awaitable[object]], Callable[[], web.Request]]] = [
        ("access middleware: request id, log context, metrics, access event", access, plain),
        ("Host, Origin and forwarded headers", host_origin_forwarded, fresh),
        ("path confinement and backend URL", confinement, fresh),
        ("authentication (token in the cache) and identity headers", authentication, fresh),
        ("request body read (64 KiB or less, arrived whole)", body, fresh),
        ("JSON-RPC summary and MCP metric", rpc_summary, fresh),
        ("backend request headers", request_headers, fresh),
        ("client response headers", response_headers, fresh),
        ("stub's web.Response (aiohttp's share of the whole)", response_only, fresh),
        ("whole: access middleware + handler, backend stubbed", whole, plain),
    ]
    results = {name: await _timed(step, make, iterations) for name, step, make in steps}
    structlog.reset_defaults()
    return results


# --- both builds --------------------------------------------------------------------------------


def _steps_of(source: Path | None, iterations: int) -> dict[str, float]:
    """Run :func:`measure_steps` in a process of its own that imports ``sidecar`` from
    ``source`` (``-m`` puts the working directory first on the path), else this build's."""
    root = Path(__file__).resolve().parent.parent
    environment = {**os.environ, "PYTHONPATH": str(root)}
    command = pinned(PROXY_CORE, [sys.executable, "-m", "bench.ownwork", "--iterations", str(iterations)])
    output = subprocess.run(
        command, cwd=source or root, env=environment, capture_output=True, text=True, check=True
    ).stdout
    return dict(json.loads(output))


@dataclass(frozen=True)
class Cpu:
    name: str
    cpu_us: float
    requests_per_second: float
    errors: int


def _wrk_cpu(name: str, pid: int, url: str, seconds: float, headers: dict[str, str]) -> Cpu:
    script = post_script(BODY.decode(), headers)
    wrk(url, connections=CONNECTIONS, seconds=min(seconds, 2), script=script)  # warm-up
    before = cpu_seconds(pid)
    result = wrk(url, connections=CONNECTIONS, seconds=seconds, script=script)
    cpu = cpu_seconds(pid) - before
    requests = result.requests_per_second * max(1, round(seconds))  # wrk runs whole seconds
    return Cpu(name, cpu * 1e6 / requests, result.requests_per_second, result.errors)


@contextlib.contextmanager
def _reference(module: str, backend: int) -> Iterator[tuple[int, int]]:
    """``python -m bench.<module> PORT BACKEND_URL`` on the proxy core; yields (port, pid)."""
    port = free_port()
    command = pinned(PROXY_CORE, [sys.executable, "-m", module, str(port), f"http://127.0.0.1:{backend}/"])
    with process(command, port) as proc:
        yield port, proc.pid


_REFERENCES = (
    ("Python ceiling: asyncio + httptools, no aiohttp", "bench.ceiling_proxy"),
    ("bare aiohttp proxy", "bench.bare_proxy"),
)


def _wrk_rounds(seconds: float, old: Path, commit: str, rounds: int) -> list[Cpu]:
    """CPU per request under load: scenario 1's sidecar with a JWT in the verified-token cache,
    sent the client headers above; the reference proxies get the same requests."""
    out: list[Cpu] = []
    with proxy.bench_backend() as (backend, issuer, key):
        headers = {
            **{k: v for k, v in CLIENT_HEADERS.items() if k not in ("Host", "Content-Length")},
            "Authorization": f"Bearer {proxy.bench_token(issuer, key)}",
        }
        config = proxy.oidc_config(backend, issuer, 10000)
        for _ in range(rounds):
            for name, module in _REFERENCES:
                with _reference(module, backend) as (port, pid):
                    out.append(_wrk_cpu(name, pid, f"http://127.0.0.1:{port}/", seconds, headers))
            for name, source in ((f"build {commit}", old), ("this build", None)):
                with sidecar_process(config, source=source) as (port, pid):
                    out.append(_wrk_cpu(name, pid, f"http://127.0.0.1:{port}/b", seconds, headers))
    return out


@dataclass(frozen=True)
class Result:
    commit: str
    baseline: dict[str, float]
    this: dict[str, float]
    cpu: list[Cpu]


def run(seconds: float, baseline: str | None, *, smoke: bool) -> Result:
    """The in-process steps of each build, in alternating processes (``ROUNDS`` each, the
    quickest kept per step), then the rounds under wrk."""
    iterations = 300 if smoke else 10000
    rounds = 1 if smoke else ROUNDS
    with git_build(baseline) as (old, commit):
        before: list[dict[str, float]] = []
        after: list[dict[str, float]] = []
        for _ in range(rounds):
            before.append(_steps_of(old, iterations))
            after.append(_steps_of(None, iterations))
        cpu = _wrk_rounds(seconds, old, commit, rounds)
    return Result(commit, _quickest(before), _quickest(after), cpu)


def _quickest(runs: list[dict[str, float]]) -> dict[str, float]:
    return {name: min(run[name] for run in runs) for name in runs[0]}


def report(result: Result) -> str:
    lines = [
        f"| in process, per request | build {result.commit} µs | this build µs | / baseline |",
        "|---|---|---|---|",
    ]
    for name, before in result.baseline.items():
        after = result.this.get(name, float("nan"))
        ratio = f"{after / before:.2f}" if before > 0 else "-"
        lines.append(f"| {name} | {before:.1f} | {after:.1f} | {ratio} |")
    names = list(dict.fromkeys(row.name for row in result.cpu))
    medians = {
        name: statistics.median(row.cpu_us for row in result.cpu if row.name == name) for name in names
    }
    base = medians.get(f"build {result.commit}", 0.0)
    lines += [
        "",
        f"| under wrk ({CONNECTIONS} conn) | CPU µs per request | / build {result.commit} | req/s | errors |",
        "|---|---|---|---|---|",
    ]
    for name in names:
        mine = [row for row in result.cpu if row.name == name]
        versus = f"{medians[name] / base:.2f}" if base > 0 else "-"
        lines.append(
            f"| {name} | {medians[name]:.0f} | {versus} "
            f"| {statistics.median(row.requests_per_second for row in mine):,.0f} "
            f"| {sum(row.errors for row in mine)} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="one build's in-process steps, as JSON")
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args()
    # The server's event loop; whatever the build prints, the JSON stays clean.
    with (
        open(os.devnull, "w") as sink,
        contextlib.redirect_stdout(io.StringIO()),
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        steps = runner.run(measure_steps(args.iterations, sink))
    print(json.dumps(steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
