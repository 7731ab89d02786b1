# SPDX-License-Identifier: Apache-2.0
"""A bounded look at a JSON-RPC request body: its MCP method (for metrics and logs) and its id
(for a JSON-RPC error when the backend cannot be reached). Never raises on hostile input.

Every proxied message is looked at, so the parse is orjson's (several times faster) wherever its
result is exactly the json module's, which stays the reference: orjson turns integers past 64
bits into floats and accepts deeper nesting than json's recursion limit, so a body with a run
of 19 digits or many brackets goes to json; so does any body orjson refuses (NaN, lone
surrogates, a BOM, other encodings), since json may still read it.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import orjson

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


class RpcSummary(NamedTuple):  # a tuple: made for every message, twice as quickly as a frozen dataclass
    method: str  # a bounded label: an MCP method, "other", "batch" or "response"
    id: JsonRpcId
    is_request: bool  # has an id and a method, so it expects an answer
    target: str | None = None  # params.name of tools/call and prompts/get, params.uri of resources/read
    arguments: object = None  # params.arguments of tools/call and prompts/get


_NOT_JSON = object()
# The body's shape in one pass: every digit a "0", every "{" a "[". Nineteen digits in a row can
# be an integer past 64 bits; the brackets bound the nesting (json's limit is near 1000).
_SHAPE = bytes.maketrans(b"0123456789{", b"0000000000[")
_LONG_NUMBER = b"0" * 19
_SHALLOW = 200


def _parsed(body: bytes) -> object:
    """``json.loads(body)``, or ``_NOT_JSON`` where it raises; through orjson where that is exact."""
    shape = body.translate(_SHAPE)
    if shape.count(b"[") < _SHALLOW and _LONG_NUMBER not in shape:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            pass  # json is the reference: it reads some texts orjson refuses
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _NOT_JSON


def summarize(body: bytes) -> RpcSummary | None:
    """Describe a JSON-RPC message, or None when the body is not one."""
    message = _parsed(body)
    if isinstance(message, list):
        return RpcSummary("batch", None, False)
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        return None
    method = message.get("method")
    raw_id = message.get("id")
    rpc_id: JsonRpcId = (
        raw_id if isinstance(raw_id, (str, int, float)) and not isinstance(raw_id, bool) else None
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
