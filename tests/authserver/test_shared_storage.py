# SPDX-License-Identifier: Apache-2.0
"""Several sidecars on one real Redis act as one authorization server, and a restart or a Redis
outage loses nothing and breaks nothing that does not need the store."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sidecar.config import Settings
from tests.authserver.flow import (
    Browser,
    RawClient,
    mode_b_settings,
    pkce_pair,
    shared_key_files,
    signed_in,
)
from tests.redis_servers import RedisNode, RedisServer
from tests.support import RunningSidecar, free_port, wait_for


def replicas(mcp_server: str, directory: Path, redis_port: int) -> tuple[Settings, Settings]:
    """Two sidecars with one public URL (as behind a load balancer), one Redis, one key set."""
    storage = {
        "type": "redis",
        "redis_config": {
            "addr": f"127.0.0.1:{redis_port}",
            "key_prefix": f"test:{{{secrets.token_hex(6)}}}:",
            "dial_timeout": "1s",
            "read_timeout": "1s",
            "write_timeout": "1s",
        },
    }
    first = mode_b_settings(mcp_server, storage=storage, **shared_key_files(directory))
    second = dataclasses.replace(first, server=dataclasses.replace(first.server, port=free_port()))
    return first, second


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(http)


async def test_sdk_client_signs_in_at_one_replica_and_works_and_refreshes_at_the_other(
    mcp_server: str, redis_server: RedisServer, tmp_path: Path, browser: Browser
) -> None:
    first, second = replicas(mcp_server, tmp_path, redis_server.port)
    async with signed_in(first, browser) as session, RunningSidecar(second) as other:
        async with session.client() as client:
            assert (await client.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3}
        tokens = session.storage.tokens
        client_info = session.storage.client
        assert tokens is not None
        assert client_info is not None
        assert client_info.client_id is not None
        # The same signed-in client, now through the other replica.
        async with Client(
            streamable_http_client(f"{other.url}/mcp", http_client=session.http_client), mode="legacy"
        ) as client:
            assert (await client.call_tool("add", {"a": 2, "b": 3})).structured_content == {"result": 5}
        async with aiohttp.ClientSession() as http:
            raw = RawClient(http, other.url)
            assert tokens.refresh_token is not None
            status, refreshed = await raw.refresh(client_info.client_id, tokens.refresh_token)
            assert status == 200, refreshed
            assert await raw.call_mcp(refreshed["access_token"]) == 200
            # The first replica sees the rotation: within the grace window, the old refresh
            # token gets the answer the other replica gave; once its successor was used, the
            # old token is a reuse there.
            here = RawClient(http, session.sidecar.url)
            status, again = await here.refresh(client_info.client_id, tokens.refresh_token)
            assert (status, again["refresh_token"]) == (200, refreshed["refresh_token"])
            status, third = await raw.refresh(client_info.client_id, refreshed["refresh_token"])
            assert status == 200, third
            status, body = await here.refresh(client_info.client_id, tokens.refresh_token)
            assert (status, body["error"]) == (400, "invalid_grant")
            status, body = await raw.refresh(client_info.client_id, third["refresh_token"])
            assert (status, body["error"]) == (400, "invalid_grant")  # the family is revoked everywhere


async def test_registration_limit_holds_across_replicas(
    mcp_server: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    """The per-address registration limit is counted in Redis: replicas share it."""
    first, second = replicas(mcp_server, tmp_path, redis_server.port)
    async with (
        RunningSidecar(first) as one,
        RunningSidecar(second) as two,
        aiohttp.ClientSession() as http,
    ):
        statuses = [
            (await RawClient(http, (one if attempt % 2 else two).url).register())[0] for attempt in range(21)
        ]
    assert statuses[:20] == [201] * 20
    assert statuses[20] == 429


async def test_client_registered_at_one_replica_is_known_at_the_other_and_codes_redeem_across(
    mcp_server: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    first, second = replicas(mcp_server, tmp_path, redis_server.port)
    async with (
        RunningSidecar(first) as one,
        RunningSidecar(second) as two,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
    ):
        here, there = RawClient(http, one.url), RawClient(http, two.url)
        client_id = await here.public_client()
        verifier, challenge = pkce_pair()
        public = first.server.public_url
        code = await there.code(client_id, challenge, expected_issuer=public, resource=f"{public}/mcp")
        status, tokens = await here.exchange(client_id, code, verifier)
        assert status == 200, tokens
        status, body = await there.exchange(client_id, code, verifier)
        assert (status, body["error"]) == (400, "invalid_grant")  # replay, at the other replica
        await wait_for(
            lambda: _revoked_at(here, tokens["access_token"]), what="revocation to reach replica one"
        )


async def _revoked_at(client: RawClient, access_token: str) -> bool:
    return await client.call_mcp(access_token) == 401


async def test_refresh_token_survives_a_restart(
    mcp_server: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Redis keeps clients and refresh tokens: a restarted sidecar honours them."""
    settings, _other = replicas(mcp_server, tmp_path, redis_server.port)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with RunningSidecar(settings) as sidecar:
            client_id, tokens = await RawClient(http, sidecar.url).sign_in()
        async with RunningSidecar(settings) as sidecar:
            raw = RawClient(http, sidecar.url)
            status, refreshed = await raw.refresh(client_id, tokens["refresh_token"])
            assert status == 200, refreshed
            assert await raw.call_mcp(refreshed["access_token"]) == 200


async def test_redis_outage_answers_503_for_the_store_keeps_mcp_traffic_and_recovers(
    mcp_server: str, tmp_path: Path
) -> None:
    node = RedisNode(free_port(), tmp_path).start()
    settings, _other = replicas(mcp_server, tmp_path, node.port)
    try:
        async with (
            RunningSidecar(settings) as sidecar,
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http,
        ):
            raw = RawClient(http, sidecar.url)
            await wait_for(lambda: _ready(http, sidecar.url), what="the sidecar to be ready")
            client_id, tokens = await raw.sign_in()
            node.stop()
            status, body = await raw.refresh(client_id, tokens["refresh_token"])
            assert (status, body["error"]) == (503, "temporarily_unavailable")
            async with http.post(
                f"{sidecar.url}/oauth/register", json={"redirect_uris": ["http://127.0.0.1:9/cb"]}
            ) as resp:
                assert resp.status == 503
                assert resp.headers["Retry-After"] == "5"
            assert await raw.call_mcp(tokens["access_token"]) == 200  # validation needs no store
            await wait_for(
                lambda: _not_ready_for_storage(http, sidecar.url), what="/readyz to report the store"
            )

            node.start()
            await wait_for(lambda: _ready(http, sidecar.url), what="/readyz to recover")
            client_id, tokens = await raw.sign_in()  # nothing was persisted; a new login works
            status, refreshed = await raw.refresh(client_id, tokens["refresh_token"])
            assert status == 200, refreshed
    finally:
        node.stop()


async def _ready(http: aiohttp.ClientSession, url: str) -> bool:
    async with http.get(f"{url}/readyz") as resp:
        return resp.status == 200


async def _not_ready_for_storage(http: aiohttp.ClientSession, url: str) -> bool:
    async with http.get(f"{url}/readyz") as resp:
        return resp.status == 503 and "storage: not answering" in (await resp.json())["reasons"]
