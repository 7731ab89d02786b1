# SPDX-License-Identifier: Apache-2.0
"""``upstream_inject`` against a real provider process: the backend gets the user's upstream
access token, refreshed once (whatever the concurrency) when it expires, and a login that ended
upstream sends the MCP client back to authorize."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sidecar.config import Settings
from tests.authn.idp import Idp
from tests.authserver.flow import Browser, mode_b_settings, shared_key_files
from tests.outgoing.federation import backend_bearer, call_backend, oidc_upstream, sign_in
from tests.redis_servers import RedisServer
from tests.support import RunningSidecar, free_port, metric_samples, wait_for

TTL = 4  # seconds: upstream tokens refreshed past half their life


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        yield Browser(http)


def _settings(echo_server: TestServer, idp: Idp, **auth_server: Any) -> Settings:
    return mode_b_settings(
        f"http://127.0.0.1:{echo_server.port}",
        upstream=oidc_upstream(idp),
        backend={"outgoing_auth": {"type": "upstream_inject", "provider_name": "corp"}},
        **auth_server,
    )


@contextlib.asynccontextmanager
async def _due_for_refresh(
    echo_server: TestServer, idp: Idp, browser: Browser
) -> AsyncIterator[tuple[str, str]]:
    """A running sidecar and a user signed in through it whose upstream token (of ``TTL``
    seconds) is past half its life: (the sidecar's URL, the user's sidecar access token)."""
    await idp.set_token_ttl(TTL)
    settings = _settings(echo_server, idp)
    base = str(settings.server.public_url)
    async with RunningSidecar(settings):
        access = await sign_in(browser, base)
        await _past_half_life(time.time())
        yield base, access


async def _past_half_life(since: float) -> None:
    await wait_for(
        lambda: time.time() > since + TTL / 2 + 0.2, TTL + 5, what="half the upstream token's life"
    )


async def test_backend_receives_the_users_upstream_token_and_the_provider_accepts_it(
    echo_server: TestServer, idp: Idp, browser: Browser
) -> None:
    settings = _settings(echo_server, idp)
    base = str(settings.server.public_url)
    async with RunningSidecar(settings):
        access = await sign_in(browser, base)
        upstream_token = await backend_bearer(browser.http, base, access)
        samples = await metric_samples(browser.http, base)
    assert upstream_token != access  # never the client's own token (MCP "Token Passthrough")
    assert await idp.accepts(upstream_token)
    assert (
        samples[("mcp_sidecar_outgoing_auth_total", (("result", "ok"), ("strategy", "upstream_inject")))] == 1
    )


async def test_expired_upstream_token_is_refreshed_before_the_next_call(
    echo_server: TestServer, idp: Idp, browser: Browser
) -> None:
    await idp.set_token_ttl(TTL)
    settings = _settings(echo_server, idp)
    base = str(settings.server.public_url)
    async with RunningSidecar(settings):
        access = await sign_in(browser, base)
        signed_in_at = time.time()
        first = await backend_bearer(browser.http, base, access)
        assert await backend_bearer(browser.http, base, access) == first  # fresh: no refresh
        await _past_half_life(signed_in_at)
        second = await backend_bearer(browser.http, base, access)
        samples = await metric_samples(browser.http, base)
    assert second != first
    assert await idp.accepts(second)
    assert await idp.refresh_grants() == 1
    assert samples[("mcp_sidecar_upstream_refreshes_total", (("provider", "corp"), ("result", "ok")))] == 1


async def test_twenty_concurrent_calls_after_expiry_cause_one_refresh_grant(
    echo_server: TestServer, idp: Idp, browser: Browser
) -> None:
    """Single flight in the process: one refresh at the provider, every call gets its result."""
    async with _due_for_refresh(echo_server, idp, browser) as (base, access):
        tokens = await asyncio.gather(*(backend_bearer(browser.http, base, access) for _ in range(20)))
    assert len(set(tokens)) == 1
    assert await idp.refresh_grants() == 1


async def test_two_sidecars_sharing_redis_refresh_once_between_them(
    echo_server: TestServer, idp: Idp, browser: Browser, redis_server: RedisServer, tmp_path: Path
) -> None:
    """Single flight across processes: the store's lease lets one of them refresh, and the
    other uses what it stored (its rotated refresh token is never overwritten)."""
    await idp.set_token_ttl(TTL)
    storage = {
        "type": "redis",
        "redis_config": {"addr": f"127.0.0.1:{redis_server.port}", "key_prefix": "fed:{one}:"},
    }
    first = _settings(echo_server, idp, storage=storage, **shared_key_files(tmp_path))
    # The same sidecar on another port: same issuer, audience, keys and store (a second replica).
    second = dataclasses.replace(first, server=dataclasses.replace(first.server, port=free_port()))
    base, other = str(first.server.public_url), f"http://127.0.0.1:{second.server.port}"
    async with RunningSidecar(first), RunningSidecar(second):
        access = await sign_in(browser, base)
        await _past_half_life(time.time())
        tokens = await asyncio.gather(
            *(backend_bearer(browser.http, url, access) for url in [base, other] * 10)
        )
        again = await backend_bearer(browser.http, other, access)
    assert len(set(tokens)) == 1
    assert again == tokens[0]
    assert await idp.refresh_grants() == 1


async def test_refresh_refused_by_the_provider_answers_401_with_a_challenge(
    echo_server: TestServer, idp: Idp, browser: Browser
) -> None:
    """The login ended upstream: the MCP client is sent to authorize again (and it is logged
    and counted, the refresh token never shown)."""
    async with _due_for_refresh(echo_server, idp, browser) as (base, access):
        await idp.forget_refresh_tokens()
        resp = await call_backend(browser.http, base, access)
        samples = await metric_samples(browser.http, base)
    assert resp.status == 401
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert (
        samples[("mcp_sidecar_upstream_refreshes_total", (("provider", "corp"), ("result", "refused")))] == 1
    )
    labels = (("result", "reauthorize"), ("strategy", "upstream_inject"))
    assert samples[("mcp_sidecar_outgoing_auth_total", labels)] == 1


async def test_unreachable_provider_answers_503_with_retry_after(
    echo_server: TestServer, idp: Idp, browser: Browser
) -> None:
    async with _due_for_refresh(echo_server, idp, browser) as (base, access):
        await idp.set_down(True)
        resp = await call_backend(browser.http, base, access)
    assert resp.status == 503
    assert int(resp.headers["Retry-After"]) > 0
