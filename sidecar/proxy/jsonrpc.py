# SPDX-License-Identifier: Apache-2.0
"""A bounded look at a JSON-RPC request body: its MCP method (for metrics and logs) and its id
(for a JSON-RPC error when the backend cannot be reached). Never raises on hostile input."""

from __future__ import annotations

import json
from dataclasses import dataclass

# Label values are bounded to the methods MCP defines (both eras); anything else is "other".
MCP_METHODS = frozenset(
    {
        "initialize",
        "ping",
        "server/discover",
        "tools/list",
        "tools/call",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "prompts/list",
        "prompts/get",
        "completion/complete",
        "logging/setLevel",
        "sampling/createMessage",
        "elicitation/create",
        "roots/list",
        "subscriptions/listen",
        "tasks/get",
        "tasks/list",
        "tasks/result",
        "tasks/cancel",
        "notifications/initialized",
        "notifications/cancelled",
        "notifications/progress",
        "notifications/roots/list_changed",
        "notifications/message",
    }
)

JsonRpcId = str | int | float | None


@dataclass(frozen=True, slots=True)
class RpcSummary:
    method: str  # a bounded label: an MCP method, "other", "batch" or "response"
    id: JsonRpcId
    is_request: bool  # has an id and a method, so it expects an answer
    target: str | None = None  # params.name of tools/call and prompts/get, params.uri of resources/read
    arguments: object = None  # params.arguments of tools/call and prompts/get


def summarize(body: bytes) -> RpcSummary | None:
    """Describe a JSON-RPC message, or None when the body is not one."""
    try:
        message = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if isinstance(message, list):
        return RpcSummary("batch", None, False)
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    method = message.get("method")
    raw_id = message.get("id")
    rpc_id: JsonRpcId = (
        raw_id if isinstance(raw_id, str | int | float) and not isinstance(raw_id, bool) else None
    )
    if not isinstance(method, str):
        return RpcSummary("response", rpc_id, False)
    label = method if method in MCP_METHODS else "other"
    params = message.get("params")
    if not isinstance(params, dict) or method not in _TARGETS:
        return RpcSummary(label, rpc_id, "id" in message)
    target = params.get(_TARGETS[method])
    return RpcSummary(
        label,
        rpc_id,
        "id" in message,
        target if isinstance(target, str) else None,
        params.get("arguments"),
    )


_TARGETS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}


def error_body(rpc_id: JsonRpcId, code: int, message: str, data: object = None) -> dict[str, object]:
    """A JSON-RPC 2.0 error response object (§5.1)."""
    error: dict[str, object] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": rpc_id, "error": error}
