# SPDX-License-Identifier: Apache-2.0
"""A Mode B sidecar on Redis Sentinel rides through a failover of the master (SIGKILL): no
restart, 503 with Retry-After meanwhile (never a 500, never a hang), and no refresh token it
answered with 200 is lost."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from tests.authserver.flow import RawClient, mode_b_settings, shared_key_files
from tests.redis_servers import MASTER_NAME, RedisSentinelServers
from tests.support import RunningSidecar, readyz, wait_for


@pytest.fixture
async def sentinel_setup() -> AsyncIterator[RedisSentinelServers]:
    """A topology of this test's own: its master is killed."""
    servers = await asyncio.to_thread(RedisSentinelServers.start)
    yield servers
    await asyncio.to_thread(servers.stop)


@dataclass
class RefreshStream:
    """A client refreshing in a loop, each refresh rotating its refresh token."""

    raw: RawClient
    client_id: str
    token: str
    acknowledged: list[str] = field(default_factory=list)  # refresh tokens answered with 200
    statuses: Counter[int] = field(default_factory=Counter)
    without_retry_after: int = 0  # 503s that did not say when to come back

    async def run(self, stop: asyncio.Event) -> None:
        form = {"grant_type": "refresh_token", "client_id": self.client_id}
        while not stop.is_set():
            async with (
                asyncio.timeout(15),  # a hang fails the test; the store's own bound is 2 s
                self.raw.http.post(
                    f"{self.raw.base}/oauth/token", data=form | {"refresh_token": self.token}
                ) as resp,
            ):
                body = await resp.json()
                self.statuses[resp.status] += 1
                if resp.status == 200:
                    self.token = body["refresh_token"]
                    self.acknowledged.append(self.token)
                elif resp.status == 503:
                    self.without_retry_after += "Retry-After" not in resp.headers
                    # The same token again: the rotation that failed was not acknowledged, so it
                    # either did not happen or its answer is kept for the grace window.
                else:
                    return  # anything else is a failure, reported by the test


async def test_failover_loses_no_acknowledged_refresh_and_answers_503_meanwhile(
    mcp_server: str, sentinel_setup: RedisSentinelServers, tmp_path: Path
) -> None:
    """A refresh token answered with 200 is current on the promoted replica; meanwhile only 503s."""
    servers = sentinel_setup
    storage = {
        "type": "redis",
        "redis_config": {
            "sentinel_config": {"master_name": MASTER_NAME, "sentinel_addrs": servers.addrs},
            "key_prefix": f"test:{{{secrets.token_hex(6)}}}:",
            "dial_timeout": "1s",
            "read_timeout": "1s",
            "write_timeout": "1s",
        },
    }
    # A grace window longer than the failover: a retry after a 503 whose rotation did happen
    # gets that rotation's answer, however long the master was away.
    settings = mode_b_settings(
        mcp_server, storage=storage, refresh_grace_period="60s", **shared_key_files(tmp_path)
    )
    async with (
        RunningSidecar(settings) as sidecar,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        raw = RawClient(http, sidecar.url)
        client_id, tokens = await raw.sign_in()
        stream = RefreshStream(raw, client_id, tokens["refresh_token"])
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as group:
            group.create_task(stream.run(stop))
            await wait_for(lambda: len(stream.acknowledged) >= 20, what="refreshes before the failover")

            old_master = servers.node(servers.master_port())
            old_master.kill()
            before = len(stream.acknowledged)
            await wait_for(
                lambda: servers.master_port() != old_master.port,
                60,
                what="the sentinels to promote the replica",
            )
            # Alone, the new master refuses the writes it could not confirm (503s), and /readyz
            # says why, until a replica is back: the killed node restarts, empty, as a replica.
            await wait_for(
                lambda: _readyz_says(
                    http, sidecar.url, "storage: fewer replicas online than min_replicas_acks"
                ),
                30,
                what="/readyz to report the missing replica",
            )
            await asyncio.to_thread(servers.rejoin, old_master)
            await wait_for(
                lambda: len(stream.acknowledged) >= before + 20 or bool(stream.statuses.keys() - {200, 503}),
                60,
                what="refreshes to work again after the failover",
            )
            stop.set()

        await wait_for(lambda: _readyz_says(http, sidecar.url, None), 30, what="/readyz to recover")
        assert set(stream.statuses) == {200, 503}, stream.statuses  # never a 500, never a 400
        assert stream.without_retry_after == 0
        # Every token answered with 200 before the kill was still the family's current one on
        # the promoted replica (the chain went on from it), and the last one works now.
        status, refreshed = await raw.refresh(client_id, stream.token)
        assert status == 200, refreshed
        assert await raw.call_mcp(refreshed["access_token"]) == 200


async def _readyz_says(http: aiohttp.ClientSession, url: str, reason: str | None) -> bool:
    """``reason`` is among the /readyz reasons (None: /readyz answers 200)."""
    status, reasons = await readyz(http, url)
    return status == 200 if reason is None else reason in reasons
