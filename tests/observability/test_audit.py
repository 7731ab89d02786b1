# SPDX-License-Identifier: Apache-2.0
"""The audit trail, asserted as data: one event per MCP operation and per security decision,
ToolHive's shape, filters by type, arguments only when asked and capped, and never a token."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aiohttp

from sidecar.observability.audit import AuditEvent
from tests.authz.support import ALICE, BOB, running, sdk
from tests.support import wait_for

CALL = {
    "jsonrpc": "2.0",
    "id": 5,
    "method": "tools/call",
    "params": {"name": "add", "arguments": {"a": 1, "b": 2}},
}


def _shape(event: AuditEvent) -> dict[str, Any]:
    return {key: event[key] for key in ("type", "outcome", "subjects", "target")}


async def test_operations_and_decisions_are_audited(catalog_json: str, http: aiohttp.ClientSession) -> None:
    events: list[AuditEvent] = []
    audit = {"enabled": True, "include_request_data": True}
    async with running(catalog_json, audit=audit, audit_sink=events.append) as sidecar:
        async with sdk(f"{sidecar.url}/mcp", BOB, "legacy") as bob:
            await bob.list_tools()
            await bob.call_tool("add", {"a": 1, "b": 2})
        denied = {**CALL, "params": {"name": "deploy", "arguments": {"target": "prod"}}}
        async with http.post(f"{sidecar.url}/mcp", json=denied, headers=BOB) as response:
            assert response.status == 403
        async with http.post(f"{sidecar.url}/mcp", json=CALL, headers={"Authorization": "Bearer nope"}):
            pass
    shapes = [_shape(event) for event in events]
    target = {"backend": "catalog", "method": "tools/call", "name": "add"}
    assert {"type": "mcp_list", "outcome": "success", "subjects": {"sub": "bob"},
            "target": {"backend": "catalog", "method": "tools/list"}} in shapes  # fmt: skip
    assert {
        "type": "mcp_tool_call",
        "outcome": "success",
        "subjects": {"sub": "bob"},
        "target": target,
    } in shapes
    assert {
        "type": "authz_denied",
        "outcome": "denied",
        "subjects": {"sub": "bob"},
        "target": {**target, "name": "deploy"},
    } in shapes
    assert {"type": "auth_failure", "outcome": "failure", "subjects": {},
            "target": {"backend": "catalog", "method": "POST"}} in shapes  # fmt: skip
    call = next(e for e in events if e["type"] == "mcp_tool_call")
    assert call["data"] == {"request": {"a": 1, "b": 2}}
    assert call["component"] == "mcp-auth-sidecar"
    assert call["loggedAt"].endswith("Z")
    assert len({event["auditId"] for event in events}) == len(events)
    text = json.dumps(events)
    for secret in (ALICE["Authorization"], BOB["Authorization"], BOB["Authorization"].split()[1], "nope"):
        assert secret not in text


async def test_event_type_filters_and_the_data_cap(catalog_json: str, http: aiohttp.ClientSession) -> None:
    events: list[AuditEvent] = []
    audit = {
        "enabled": True,
        "include_request_data": True,
        "max_data_size": 16,
        "event_types": ["mcp_tool_call"],
    }
    async with (
        running(catalog_json, audit=audit, audit_sink=events.append) as sidecar,
        sdk(f"{sidecar.url}/mcp", ALICE, "2026-07-28") as alice,
    ):
        await alice.list_tools()
        await alice.call_tool("deploy", {"target": "a much longer argument than sixteen bytes"})
    assert [event["type"] for event in events] == ["mcp_tool_call"]
    assert events[0]["data"]["request"]["truncated"] is True


async def test_events_go_to_their_own_file_as_json_lines(
    catalog_json: str, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    log_file = tmp_path / "audit.jsonl"
    audit = {"enabled": True, "log_file": str(log_file), "exclude_event_types": ["mcp_list"]}
    async with (
        running(catalog_json, audit=audit) as sidecar,
        http.post(f"{sidecar.url}/mcp", json=CALL, headers=ALICE) as response,
    ):
        assert response.status in (200, 400)  # no session: the server may refuse; audited either way
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["mcp_tool_call"]
    assert lines[0]["subjects"] == {"sub": "alice"}


# The 2026-07-28 envelope: a request stands alone, no session needed.
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


async def test_a_call_the_client_leaves_is_still_audited(
    mcp_server: str, http: aiohttp.ClientSession
) -> None:
    """The client goes away while the tool runs: the operation gets its event all the same (499)."""
    events: list[AuditEvent] = []
    policies = ['permit(principal, action == Action::"call_tool", resource == Tool::"sleep");']
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "sleep", "arguments": {"seconds": 5}, "_meta": META},
    }
    headers = {
        **ALICE,
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "sleep",
    }
    async with running(mcp_server, policies, audit={"enabled": True}, audit_sink=events.append) as sidecar:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5), http.post(f"{sidecar.url}/mcp", json=body, headers=headers) as r:
                await r.read()

        async def audited() -> bool:
            return bool(events)

        await wait_for(audited, 5, what="the audit event of the abandoned call")
    assert [(e["type"], e["outcome"], e["metadata"]["extra"]["status"]) for e in events] == [
        ("mcp_tool_call", "failure", 499)
    ]
