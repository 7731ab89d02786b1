# SPDX-License-Identifier: Apache-2.0
"""The sidecar as a real process: graceful drain on SIGTERM, and logs free of secrets."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import aiohttp
import yaml
from aiohttp.test_utils import TestServer

from tests.servers.echo import EchoState
from tests.support import Process, free_port, readyz, wait_for

TOKEN = "eyJhbGciOiJSUzI1NiJ9.bG9nLXRva2Vu.c2lnLXNlY3JldA"
COOKIE = "mcp_sidecar_session=c00kie-s3cret"


async def _start(tmp_path: Path, echo: TestServer, **server: object) -> tuple[Process, str, Path]:
    port = free_port()
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"host": "127.0.0.1", "port": port, "log_format": "json", **server},
                "backends": [{"name": "echo", "url": f"http://127.0.0.1:{echo.port}/", "path": "/b"}],
            }
        )
    )
    log_path = tmp_path / "sidecar.log"
    with log_path.open("wb") as log_file:
        process = await Process.start(
            ["-m", "sidecar", "serve", "--config", str(config)], port, stdout=log_file, stderr=log_file
        )
    return process, f"http://127.0.0.1:{port}", log_path


async def _wait_exit(process: Process, limit: float) -> int:
    await wait_for(lambda: process.popen.poll() is not None, limit, what="the sidecar process to exit")
    return process.popen.wait()


async def test_sigterm_drains_in_flight_request_and_fails_readiness(
    tmp_path: Path, echo_server: TestServer, echo_state: EchoState, http: aiohttp.ClientSession
) -> None:
    """On SIGTERM /readyz turns 503 "draining" while a request in flight still completes."""
    process, url, _log = await _start(tmp_path, echo_server, shutdown_delay="1s", drain_timeout="5s")
    try:
        in_flight = asyncio.ensure_future(http.get(f"{url}/b/slow?seconds=2"))
        await asyncio.wait_for(echo_state.slow_started.wait(), 10)  # it reached the backend
        process.popen.send_signal(signal.SIGTERM)

        async def draining() -> bool:
            return await readyz(http, url) == (503, ["draining"])

        await wait_for(draining, what="/readyz reporting draining")
        resp = await in_flight
        assert resp.status == 200
        assert await resp.json() == {"slept": True}
        resp.release()
        assert await _wait_exit(process, 10) == 0
    finally:
        process.stop()


async def test_open_stream_is_closed_at_the_drain_deadline(
    tmp_path: Path, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    process, url, _log = await _start(tmp_path, echo_server, drain_timeout="1s")
    try:
        async with http.get(f"{url}/b/hold-sse") as resp:
            assert await resp.content.readuntil(b"\n\n") == b"data: hello\n\n"
            process.popen.send_signal(signal.SIGTERM)
            # The stream ends (cleanly or not) once the drain deadline passes; never hangs.
            async with asyncio.timeout(8):
                try:
                    while await resp.content.readany():
                        pass
                except aiohttp.ClientPayloadError:
                    pass
        assert await _wait_exit(process, 10) == 0
    finally:
        process.stop()


async def test_tokens_cookies_and_codes_never_appear_in_logs(
    tmp_path: Path, echo_server: TestServer, http: aiohttp.ClientSession
) -> None:
    """Every log line is JSON and none carries the token, cookie or query secrets sent."""
    process, url, log_path = await _start(tmp_path, echo_server)
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", "Cookie": COOKIE}
        async with http.post(
            f"{url}/b/mcp?access_token={TOKEN}&code=auth-c0de",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "x", "token": TOKEN}},
            headers=headers,
        ) as resp:
            assert resp.status == 200
        async with http.get(f"{url}/nope?token={TOKEN}", headers=headers) as resp:
            assert resp.status == 404
        # A malformed request whose rejected header line holds the token.
        reader, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":", 1)[1]))
        writer.write(f"GET /b HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\x01\r\n\r\n".encode())
        await writer.drain()
        assert b"400" in await asyncio.wait_for(reader.readline(), 5)
        writer.close()
    finally:
        process.stop()
    lines = log_path.read_text().splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    assert any(e["event"] == "request" and e.get("mcp_method") == "tools/call" for e in events)
    assert any(e["event"] == "bad_request" for e in events)
    text = log_path.read_text()
    for secret in (TOKEN, "c00kie-s3cret", "auth-c0de"):
        assert secret not in text
