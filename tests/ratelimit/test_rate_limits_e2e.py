# SPDX-License-Identifier: Apache-2.0
"""Rate limits in front of a real MCP server: the N+1th call of a user gets -32029 with a retry
hint (HTTP 429, Retry-After); other users are not affected."""

from __future__ import annotations

import aiohttp
import pytest

from tests.authz.support import ALICE, BOB, running, sdk, seen
from tests.support import metric_samples

LIMITS = {"per_user_tool": {"requests": 3, "per": "1m"}}
CALL = {
    "jsonrpc": "2.0",
    "id": 9,
    "method": "tools/call",
    "params": {"name": "add", "arguments": {"a": 1, "b": 1}},
}


async def test_n_plus_first_call_is_refused_with_a_retry_hint(
    catalog_json: str, http: aiohttp.ClientSession
) -> None:
    async with running(catalog_json, rate_limits=LIMITS) as sidecar:
        async with sdk(f"{sidecar.url}/mcp", ALICE, "legacy") as alice:
            for _ in range(3):
                assert (await alice.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}
            with pytest.raises(Exception, match="rate limit exceeded"):
                await alice.call_tool("add", {"a": 1, "b": 1})
            assert (await alice.call_tool("deploy", {"target": "x"})).structured_content is not None
        before = await seen(http, catalog_json)
        async with http.post(f"{sidecar.url}/mcp", json=CALL, headers=ALICE) as response:
            assert response.status == 429
            retry_after = int(response.headers["Retry-After"])
            assert await response.json() == {
                "jsonrpc": "2.0",
                "id": 9,
                "error": {
                    "code": -32029,
                    "message": "rate limit exceeded",
                    "data": {"retryAfterSeconds": retry_after},
                },
            }
        assert 1 <= retry_after <= 20
        assert await seen(http, catalog_json) == before
        async with sdk(f"{sidecar.url}/mcp", BOB, "2026-07-28") as bob:
            assert (await bob.call_tool("add", {"a": 2, "b": 2})).structured_content == {"result": 4}
        metrics = await metric_samples(http, sidecar.url)
    key = ("mcp_sidecar_rate_limited_total", (("backend", "catalog"), ("bucket", "user_tool")))
    assert metrics[key] == 2


async def test_a_batch_cannot_carry_calls_past_the_buckets(
    catalog_json: str, http: aiohttp.ClientSession
) -> None:
    """Rate limits without policies: a batch would take one token for many calls; it is refused."""
    async with running(catalog_json, rate_limits=LIMITS, type="none") as sidecar:
        batch = [CALL] * 10
        async with http.post(f"{sidecar.url}/mcp", json=batch, headers=BOB) as response:
            assert response.status == 400
            answer = await response.json()
    assert answer["error"] == {
        "code": -32600,
        "message": "JSON-RPC batches are not accepted while rate limits are on",
    }
