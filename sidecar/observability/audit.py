# SPDX-License-Identifier: Apache-2.0
"""The audit trail: one JSON event per MCP operation and per security decision, in ToolHive's
shape (``pkg/audit``), on a stream of its own (standard output or a file), apart from the
access log.

An event holds who (``subjects``: sub and client_id), what (``target``: backend, method, name),
the verdict (``outcome``: success, failure, error, denied) and, when asked, the request's
arguments up to a size cap. SECURITY: it is built from named fields only, never from headers,
so no token, authorization code, secret or cookie can reach it.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, Any, TypedDict

import orjson

from sidecar.config.authz import AuditSettings


class AuditEvent(TypedDict, total=False):
    type: str
    loggedAt: str
    auditId: str
    outcome: str
    component: str
    source: dict[str, str]
    subjects: dict[str, str]
    target: dict[str, str]
    metadata: dict[str, Any]
    data: dict[str, Any]


Sink = Callable[[AuditEvent], None]

_TYPES = {
    "tools/call": "mcp_tool_call",
    "prompts/get": "mcp_prompt_get",
    "resources/read": "mcp_resource_read",
    "tools/list": "mcp_list",
    "prompts/list": "mcp_list",
    "resources/list": "mcp_list",
    "resources/templates/list": "mcp_list",
    "initialize": "mcp_initialize",
    "server/discover": "mcp_initialize",
    "ping": "mcp_ping",
    "response": "mcp_response",
}


def event_type(http_method: str, mcp_method: str | None, outcome: str | None) -> str:
    """The event type of a request, from what ended it, else from its MCP method."""
    if outcome is not None:
        if outcome == "authz_denied":
            return "authz_denied"
        if outcome.startswith("auth_"):
            return "auth_failure"
        if outcome.startswith("rate_limited"):
            return "rate_limited"
    if mcp_method is None:
        return "sse_connection" if http_method == "GET" else "http_request"
    if mcp_method.startswith("notifications/"):
        return "mcp_notification"
    return _TYPES.get(mcp_method, "mcp_request")


def outcome_of(event: str, status: int) -> str:
    if event in ("authz_denied", "rate_limited"):
        return "denied"
    if status >= 500:
        return "error"
    return "failure" if status >= 400 else "success"


def request_data(arguments: object, limit: int) -> dict[str, Any]:
    """``data.request``: the arguments, or their size when their JSON is larger than ``limit``."""
    encoded = orjson.dumps(arguments, default=str)
    if len(encoded) > limit:
        return {"request": {"truncated": True, "size": len(encoded)}}
    return {"request": orjson.loads(encoded)}


class Auditor:
    """Builds, filters and writes events; ``sink`` receives each one (tests pass a list's append)."""

    def __init__(
        self,
        settings: AuditSettings,
        sink: Sink,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._settings, self._sink, self._clock = settings, sink, clock
        self._only = frozenset(settings.event_types)
        self._never = frozenset(settings.exclude_event_types)
        self.wants_data = settings.include_request_data

    def record(
        self,
        *,
        kind: str,
        status: int,
        backend: str,
        http_method: str,
        mcp_method: str | None,
        name: str | None,
        subject: str | None,
        client_id: str | None,
        client_ip: str | None,
        arguments: object = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if (self._only and kind not in self._only) or kind in self._never:
            return
        target = {"backend": backend, "method": mcp_method or http_method}
        if name is not None:
            target["name"] = name
        subjects = {key: value for key, value in (("sub", subject), ("client_id", client_id)) if value}
        event: AuditEvent = {
            "type": kind,
            "loggedAt": self._clock().isoformat().replace("+00:00", "Z"),
            "auditId": str(uuid.uuid4()),
            "outcome": outcome_of(kind, status),
            "component": self._settings.component,
            "source": {"type": "network", "value": client_ip or ""},
            "subjects": subjects,
            "target": target,
            "metadata": {"extra": {"status": status, **(extra or {})}},
        }
        if self.wants_data and arguments is not None:
            event["data"] = request_data(arguments, self._settings.max_data_size)
        self._sink(event)


class JsonLines:
    """A sink writing one JSON object a line to standard output or an append-only file."""

    def __init__(self, path: str | None) -> None:
        self._owned = path is not None
        self._stream: IO[bytes] = open(path, "ab", buffering=0) if path is not None else sys.stdout.buffer  # noqa: SIM115 - closed by close()

    def __call__(self, event: AuditEvent) -> None:
        self._stream.write(orjson.dumps(event) + b"\n")
        if not self._owned:
            self._stream.flush()

    def close(self) -> None:
        if self._owned:
            self._stream.close()
