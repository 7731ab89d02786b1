# SPDX-License-Identifier: Apache-2.0
"""The client registry never fills up for good: idle clients make room, clients with a live
session stay, and the stores stay within their bounds under steady churn."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from sidecar.config.passwords import hash_password
from tests.authserver.flow import PASSWORD, RawClient, mode_b_settings, pkce_pair
from tests.support import RunningSidecar, Samples, metric_samples


@contextlib.asynccontextmanager
async def sidecar(mcp_server: str, **auth_server: Any) -> AsyncIterator[RawClient]:
    """A Mode B sidecar that believes X-Forwarded-For from loopback, so each simulated user
    comes from an address of its own (the login and registration limits are per address)."""
    # The cheapest scrypt cost the config accepts: these tests sign in hundreds of times.
    users = [{"username": "alice", "password_hash": hash_password(PASSWORD, log_n=10)}]
    settings = mode_b_settings(
        mcp_server,
        upstream={"name": "local", "type": "static", "static_config": {"users": users}},
        server={"trusted_proxies": ["127.0.0.1/32"]},
        **auth_server,
    )
    assert settings.server.public_url is not None
    async with RunningSidecar(settings), aiohttp.ClientSession() as http:
        yield RawClient(http, settings.server.public_url)


@contextlib.asynccontextmanager
async def user(base: RawClient, number: int) -> AsyncIterator[RawClient]:
    """A browser of its own (cookies) at an address of its own."""
    address = f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}"
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), headers={"X-Forwarded-For": address}
    ) as http:
        yield RawClient(http, base.base)


async def sign_in_and_sign_out(raw: RawClient) -> str:
    """A full login whose session then ends by revocation: the client is left idle."""
    client_id, tokens = await raw.sign_in()
    status, refreshed = await raw.refresh(client_id, tokens["refresh_token"])
    assert status == 200, refreshed
    assert await raw.revoke(client_id, refreshed["refresh_token"]) == 200
    return client_id


async def authorize_status(raw: RawClient, client_id: str) -> tuple[int, str]:
    resp = await raw.authorize(raw.authorize_url(client_id, pkce_pair()[1]))
    return resp.status, await resp.text()


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_idle_clients_make_room_and_a_client_with_a_live_session_stays(mcp_server: str) -> None:
    """More clients than max_clients sign in and out; the oldest idle one is evicted, the one
    with a live session never is."""
    async with sidecar(mcp_server, max_clients=3) as raw:
        async with user(raw, 1) as alive:
            live_client, live_tokens = await alive.sign_in()
        idle = []
        for number in range(2, 6):
            async with user(raw, number) as someone:
                idle.append(await sign_in_and_sign_out(someone))
        assert (await raw.register())[0] == 201

        status, page = await authorize_status(raw, idle[0])
        assert status == 400
        assert "unknown client_id" in page
        status, refreshed = await raw.refresh(live_client, live_tokens["refresh_token"])
        assert status == 200, refreshed
        samples = await metric_samples(raw.http, raw.base)
        assert sample(samples, "mcp_sidecar_registered_clients") == 3
        assert sample(samples, "mcp_sidecar_client_evictions_total", reason="capacity") == 3
        assert sample(samples, "mcp_sidecar_storage_entries", store="clients") == 3


async def test_registry_of_clients_with_live_sessions_answers_503_until_one_ends(mcp_server: str) -> None:
    async with sidecar(mcp_server, max_clients=2) as raw:
        signed_in = []
        for number in (1, 2):
            async with user(raw, number) as someone:
                signed_in.append(await someone.sign_in())
        async with raw.http.post(
            f"{raw.base}/oauth/register", json={"redirect_uris": ["http://127.0.0.1:9/callback"]}
        ) as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "60"
            assert (await resp.json())["error"] == "temporarily_unavailable"

        client_id, tokens = signed_in[0]
        assert await raw.revoke(client_id, tokens["refresh_token"]) == 200
        assert (await raw.register())[0] == 201
        other_client, other_tokens = signed_in[1]
        status, refreshed = await raw.refresh(other_client, other_tokens["refresh_token"])
        assert status == 200, refreshed


async def test_steady_client_churn_keeps_every_store_within_its_bounds(mcp_server: str) -> None:
    """A soak in small: a few hundred clients register, sign in, refresh and sign out, as MCP
    clients that re-register after each restart do. Registration never fails, the registry stays
    at its bound, and nothing of an ended session pins anything."""
    flows, max_clients = 300, 5
    async with sidecar(mcp_server, max_clients=max_clients) as raw:
        for number in range(flows):
            async with user(raw, number) as someone:
                await sign_in_and_sign_out(someone)
            if number % 50 == 49:
                samples = await metric_samples(raw.http, raw.base)
                assert sample(samples, "mcp_sidecar_storage_entries", store="clients") <= max_clients
        samples = await metric_samples(raw.http, raw.base)

    def entries(store: str) -> float:
        return sample(samples, "mcp_sidecar_storage_entries", store=store)

    assert entries("clients") == max_clients
    assert entries("client_holds") == entries("sessions") == entries("pending_authorizations") == 0
    # Kept for replay and reuse detection until they expire, never beyond one per code and two
    # refresh tokens (the first and the rotated one) per flow.
    assert entries("codes") <= flows
    assert entries("refresh_tokens") <= 2 * flows
    assert entries("revoked_sessions") == flows
    assert sample(samples, "mcp_sidecar_client_registrations_total", result="ok") == flows
    assert sample(samples, "mcp_sidecar_client_evictions_total", reason="capacity") == flows - max_clients
