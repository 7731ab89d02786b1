# SPDX-License-Identifier: Apache-2.0
"""Which MCP operation a request body is, for the policies: the Cedar action, resource and
arguments to decide on, or the list whose result is filtered, or nothing to decide.

The body is the truth. MCP 2026-07-28 (streamable HTTP, standard request headers) mirrors the
method and the tool, prompt or resource name in ``Mcp-Method`` and ``Mcp-Name`` so that
intermediaries can route without parsing; a header that disagrees with the body is refused (400)
before any decision, so a policy keyed on one can never be steered by the other.

Exceptions (each carries its HTTP status and JSON-RPC error)::

    Refused
      ├─ NotJsonRpc      the body is not one JSON-RPC 2.0 message
      ├─ BatchRefused    a JSON-RPC batch while policies are on
      ├─ HeaderMismatch  Mcp-Method / Mcp-Name disagree with the body
      └─ MissingTarget   tools/call without a tool name, resources/read without a uri, ...
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from multidict import MultiMapping

from sidecar.proxy.jsonrpc import JsonRpcId

DENIED_CODE = 403  # ToolHive's JSONRPCCodeDenied: outside the reserved -32768..-32000 range
_INVALID_REQUEST = -32600  # JSON-RPC 2.0 §5.1
_PARSE_ERROR = -32700
_INVALID_PARAMS = -32602


class Refused(Exception):
    """A request refused before any decision."""

    status = 400
    code = _INVALID_REQUEST

    def __init__(self, message: str, rpc_id: JsonRpcId = None) -> None:
        super().__init__(message)
        self.message, self.rpc_id = message, rpc_id


class NotJsonRpc(Refused):
    code = _PARSE_ERROR


class BatchRefused(Refused):
    pass


class HeaderMismatch(Refused):
    pass


class MissingTarget(Refused):
    code = _INVALID_PARAMS


@dataclass(frozen=True, slots=True)
class ListSpec:
    """How the items of a list result are decided: ``result[key][*][id_key]`` as the resource."""

    key: str
    id_key: str
    action: str
    resource_type: str


@dataclass(frozen=True, slots=True)
class Check:
    """One decision: may the caller do ``action`` on ``resource_type::"name"``?"""

    action: str
    resource_type: str
    name: str
    arguments: Mapping[str, object] = field(default_factory=dict)

    def describe(self) -> str:
        noun = {"Tool": "tool", "Prompt": "prompt", "Resource": "resource"}.get(self.resource_type, "item")
        return f"{self.action} on {noun} {self.name!r}"


@dataclass(frozen=True, slots=True)
class Operation:
    method: str  # from the body; "response" for a client's answer to a server request
    rpc_id: JsonRpcId
    check: Check | None = None  # decide this before forwarding
    listing: ListSpec | None = None  # filter this list in the response
    denied: bool = False  # a method no policy can allow (default deny)


LISTS = {
    "tools/list": ListSpec("tools", "name", "call_tool", "Tool"),
    "prompts/list": ListSpec("prompts", "name", "get_prompt", "Prompt"),
    "resources/list": ListSpec("resources", "uri", "read_resource", "Resource"),
    "resources/templates/list": ListSpec("resourceTemplates", "uriTemplate", "read_resource", "Resource"),
}
# Protocol messages that touch no tool, prompt or resource (ToolHive's always-allowed set).
ALWAYS_ALLOWED = frozenset({"initialize", "ping", "server/discover", "logging/setLevel"})
_NAMED = {"tools/call": ("call_tool", "Tool"), "prompts/get": ("get_prompt", "Prompt")}
_BY_URI = frozenset({"resources/read", "resources/subscribe", "resources/unsubscribe"})


def classify(body: bytes | None, headers: MultiMapping[str]) -> Operation:
    """The operation a POST body asks for; raises :class:`Refused`."""
    try:
        message = json.loads(body or b"")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise NotJsonRpc("the body is not JSON") from None
    if isinstance(message, list):
        # MCP 2025-06-18 removed batching; deciding each element would mean splitting the batch
        # and merging the answers (and filtering lists inside them). Refusing fails closed.
        raise BatchRefused("JSON-RPC batches are not accepted while authorization policies are on")
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise NotJsonRpc("the body is not a JSON-RPC 2.0 message")
    raw_id = message.get("id")
    rpc_id: JsonRpcId = raw_id if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    method = message.get("method")
    if not isinstance(method, str):
        _check_headers(headers, None, None, rpc_id)
        return Operation("response", rpc_id)  # an answer to a server request: nothing to reach
    params = message.get("params")
    params = params if isinstance(params, dict) else {}
    check = _check_for(method, params, rpc_id)
    _check_headers(headers, method, check.name if check is not None else None, rpc_id)
    if check is not None:
        return Operation(method, rpc_id, check=check)
    if (listing := LISTS.get(method)) is not None:
        return Operation(method, rpc_id, listing=listing)
    if method in ALWAYS_ALLOWED or method.startswith("notifications/"):
        return Operation(method, rpc_id)
    return Operation(method, rpc_id, denied=True)


def _check_for(method: str, params: dict[str, object], rpc_id: JsonRpcId) -> Check | None:
    if method in _NAMED:
        action, kind = _NAMED[method]
        name = params.get("name")
        if not isinstance(name, str) or not name:
            raise MissingTarget(f"{method} needs params.name", rpc_id)
        arguments = params.get("arguments")
        return Check(action, kind, name, arguments if isinstance(arguments, dict) else {})
    if method in _BY_URI:
        return Check("read_resource", "Resource", _uri(params.get("uri"), method, rpc_id))
    if method == "completion/complete":
        # Completing a prompt's or a resource template's argument reveals what it would accept.
        ref = params.get("ref")
        ref = ref if isinstance(ref, dict) else {}
        if ref.get("type") == "ref/prompt" and isinstance(name := ref.get("name"), str) and name:
            return Check("get_prompt", "Prompt", name)
        if ref.get("type") == "ref/resource":
            return Check("read_resource", "Resource", _uri(ref.get("uri"), method, rpc_id))
        raise MissingTarget("completion/complete needs a prompt or resource ref", rpc_id)
    return None


def _uri(value: object, method: str, rpc_id: JsonRpcId) -> str:
    if not isinstance(value, str) or not value:
        raise MissingTarget(f"{method} needs a uri", rpc_id)
    return value


def _check_headers(
    headers: MultiMapping[str], method: str | None, name: str | None, rpc_id: JsonRpcId
) -> None:
    for header, body_value in (("Mcp-Method", method), ("Mcp-Name", name)):
        values = headers.getall(header, [])
        # SECURITY: with two copies, each hop could read a different one.
        if len(values) > 1 or (values and values[0] != body_value):
            raise HeaderMismatch(f"the {header} header disagrees with the body", rpc_id)
