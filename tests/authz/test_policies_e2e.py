# SPDX-License-Identifier: Apache-2.0
"""Cedar policies in front of a real MCP server, driven by the official SDK client: each user
sees only what they may use, in JSON and SSE responses of both MCP eras, and a denied call is
refused with 403 and never reaches the server."""

from __future__ import annotations

import aiohttp
import pytest
from mcp import Client
from mcp.client.sse import sse_client

from tests.authz.support import ALICE, BOB, running, sdk, seen
from tests.support import metric_samples

ERAS = ["legacy", "2026-07-28"]


@pytest.mark.parametrize("mode", ERAS)
@pytest.mark.parametrize("responses", ["sse", "json"])
async def test_each_user_sees_only_their_tools_prompts_and_resources(
    catalog_sse: str, catalog_json: str, mode: str, responses: str
) -> None:
    """tools/list, prompts/list and resources/list hold only what the caller may use."""
    origin = catalog_sse if responses == "sse" else catalog_json
    async with running(origin) as sidecar:
        async with sdk(f"{sidecar.url}/mcp", ALICE, mode) as alice:
            assert {t.name for t in (await alice.list_tools()).tools} == {"add", "deploy", "read_file"}
            assert {p.name for p in (await alice.list_prompts()).prompts} == {"greet", "incident"}
            assert {str(r.uri) for r in (await alice.list_resources()).resources} == {"docs://public"}
            templates = (await alice.list_resource_templates()).resource_templates
            assert {t.uri_template for t in templates} == {"files://public/{name}"}
            contents = (await alice.read_resource("files://public/a")).contents
            assert [getattr(item, "text", None) for item in contents] == ["a"]
            assert (await alice.call_tool("deploy", {"target": "prod"})).structured_content == {
                "result": "deployed prod"
            }
        async with sdk(f"{sidecar.url}/mcp", BOB, mode) as bob:
            assert {t.name for t in (await bob.list_tools()).tools} == {"add", "read_file"}
            assert {p.name for p in (await bob.list_prompts()).prompts} == {"greet"}
            assert (await bob.call_tool("add", {"a": 1, "b": 2})).structured_content == {"result": 3}


@pytest.mark.parametrize("mode", ERAS)
async def test_denied_call_is_403_and_never_reaches_the_server(
    catalog_sse: str, mode: str, http: aiohttp.ClientSession
) -> None:
    """bob may not deploy: the SDK gets the error, the server never ran the tool."""
    async with running(catalog_sse) as sidecar:
        before = await seen(http, catalog_sse)
        async with sdk(f"{sidecar.url}/mcp", BOB, mode) as bob:
            with pytest.raises(Exception, match="call_tool on tool 'deploy' is not allowed"):
                await bob.call_tool("deploy", {"target": "prod"})
            with pytest.raises(Exception, match="get_prompt on prompt 'incident' is not allowed"):
                await bob.get_prompt("incident")
            with pytest.raises(Exception, match="read_resource on resource 'docs://private' is not allowed"):
                await bob.read_resource("docs://private")
            with pytest.raises(Exception, match="'files://private/x' is not allowed"):
                await bob.read_resource("files://private/x")
        assert await seen(http, catalog_sse) == before


async def test_denial_is_http_403_with_a_json_rpc_error(
    catalog_sse: str, http: aiohttp.ClientSession
) -> None:
    """The wire shape: 403, the request's id, ToolHive's denial code, the operation named."""
    async with running(catalog_sse) as sidecar:
        body = {
            "jsonrpc": "2.0",
            "id": 7,
            "method": "tools/call",
            "params": {"name": "wipe", "arguments": {}},
        }
        async with http.post(f"{sidecar.url}/mcp", json=body, headers=ALICE) as response:
            assert response.status == 403
            assert await response.json() == {
                "jsonrpc": "2.0",
                "id": 7,
                "error": {"code": 403, "message": "call_tool on tool 'wipe' is not allowed"},
            }
        metrics = await metric_samples(http, sidecar.url)
    key = (("action", "call_tool"), ("backend", "catalog"), ("result", "denied"))
    assert metrics[("mcp_sidecar_authz_decisions_total", key)] == 1


async def test_argument_based_policy(catalog_json: str, http: aiohttp.ClientSession) -> None:
    """`context.arg_path like "/public/*"`: the same tool, allowed or denied by its argument."""
    async with running(catalog_json) as sidecar, sdk(f"{sidecar.url}/mcp", BOB, "legacy") as bob:
        result = await bob.call_tool("read_file", {"path": "/public/readme"})
        assert result.structured_content == {"result": "contents of /public/readme"}
        with pytest.raises(Exception, match="call_tool on tool 'read_file' is not allowed"):
            await bob.call_tool("read_file", {"path": "/etc/shadow"})
    assert "tool:read_file:/etc/shadow" not in await seen(http, catalog_json)


async def test_legacy_http_sse_transport_lists_filtered_and_denials_on_the_stream(
    catalog_sse: str, http: aiohttp.ClientSession
) -> None:
    """Responses on the legacy GET stream (2024-11-05 transport) are filtered too (told apart by
    their result's key), and a denied call is answered on that stream, never at the server."""
    async with (
        running(catalog_sse) as sidecar,
        Client(sse_client(f"{sidecar.url}/sse", headers=BOB), mode="legacy") as bob,
    ):
        assert {t.name for t in (await bob.list_tools()).tools} == {"add", "read_file"}
        assert {p.name for p in (await bob.list_prompts()).prompts} == {"greet"}
        # The denial travels where this transport's answers do: on the GET stream.
        with pytest.raises(Exception, match="call_tool on tool 'wipe' is not allowed"):
            await bob.call_tool("wipe", {})
        assert (await bob.call_tool("add", {"a": 2, "b": 3})).structured_content == {"result": 5}
    assert "tool:wipe" not in await seen(http, catalog_sse)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (
            {"Mcp-Method": "tools/call", "Mcp-Name": "add"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "wipe"}},
        ),
        (
            {"Mcp-Method": "tools/list"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "wipe"}},
        ),
    ],
)
async def test_header_body_disagreement_is_400_before_any_decision(
    catalog_json: str, http: aiohttp.ClientSession, headers: dict[str, str], body: dict[str, object]
) -> None:
    async with running(catalog_json) as sidecar:
        before = await seen(http, catalog_json)
        async with http.post(f"{sidecar.url}/mcp", json=body, headers={**ALICE, **headers}) as response:
            assert response.status == 400
            answer = await response.json()
        metrics = await metric_samples(http, sidecar.url)
    assert answer["id"] == 3
    assert answer["error"]["code"] == -32600
    assert await seen(http, catalog_json) == before
    refused = (("action", "none"), ("backend", "catalog"), ("result", "refused"))
    assert metrics[("mcp_sidecar_authz_decisions_total", refused)] == 1
    assert not any(
        labels[0] == ("action", "call_tool")
        for name, labels in metrics
        if name == "mcp_sidecar_authz_decisions_total"
    )


async def test_batch_is_refused_while_policies_are_on(catalog_json: str, http: aiohttp.ClientSession) -> None:
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "wipe"}}]
    async with (
        running(catalog_json) as sidecar,
        http.post(f"{sidecar.url}/mcp", json=batch, headers=ALICE) as response,
    ):
        assert response.status == 400
        assert "batches are not accepted" in (await response.json())["error"]["message"]
    assert "tool:wipe" not in await seen(http, catalog_json)


async def test_get_with_a_body_is_refused_while_policies_are_on(
    catalog_sse: str, http: aiohttp.ClientSession
) -> None:
    """A GET opens a stream and is not decided: a JSON-RPC call smuggled in its body never
    reaches the server."""
    async with running(catalog_sse) as sidecar:
        before = await seen(http, catalog_sse)
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": "wipe", "arguments": {}},
        }
        async with http.get(f"{sidecar.url}/mcp", json=body, headers=ALICE) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "body_not_allowed"
        assert await seen(http, catalog_sse) == before
