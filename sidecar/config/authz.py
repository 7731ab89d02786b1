# SPDX-License-Identifier: Apache-2.0
"""Schema of ``incoming_auth.authz``: MCP-aware access control with Cedar policies. Key names are
ToolHive's vMCP ``authz`` keys in snake_case, so a ToolHive policy set carries over unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sidecar.config.fields import setting
from sidecar.config.values import ByteSize, Seconds, parse_duration

DEFAULT_GROUP_ENTITY_TYPE = "THVGroup"


@dataclass(frozen=True, slots=True)
class CedarAuthz:
    type: Literal["cedar"] = setting("Authorization engine: cedar (policies decide) or none (no checks).")
    policies: tuple[str, ...] = setting(
        "Cedar policies, one or more per entry; default deny: what no policy permits is refused.",
        default=(),
    )
    policies_file: str | None = setting(
        "File of Cedar policies, read once at start-up (in addition to `policies`).", default=None
    )
    entities_json: str = setting(
        "Static Cedar entities as a JSON array (e.g. group hierarchies), as in ToolHive.", default="[]"
    )
    group_claim_name: str | None = setting(
        "Claim listing the caller's groups. Default: the first of groups, roles, cognito:groups present.",
        default=None,
    )
    role_claim_name: str | None = setting(
        "Claim listing the caller's roles; they become parents of the principal like groups.", default=None
    )
    group_entity_type: str = setting(
        "Cedar entity type of the group and role parents of the principal.",
        default=DEFAULT_GROUP_ENTITY_TYPE,
    )


@dataclass(frozen=True, slots=True)
class NoAuthz:
    type: Literal["none"] = setting("Authorization engine: cedar (policies decide) or none (no checks).")


AuthzSettings = CedarAuthz | NoAuthz


@dataclass(frozen=True, slots=True)
class Rate:
    requests: int = setting("Requests allowed in each `per` (the bucket refills at requests/per).")
    per: Seconds = setting("The period the requests are counted over, e.g. 1m.", default=parse_duration("1m"))
    burst: int | None = setting(
        "Most requests at once (the bucket's size). Default: `requests`.", default=None
    )


@dataclass(frozen=True, slots=True)
class RateLimits:
    per_user: Rate | None = setting(
        "Token bucket per user (token subject) over every MCP request it sends to a backend.", default=None
    )
    per_tool: Rate | None = setting(
        "Token bucket per tool of a backend, over the tools/call of all users together.", default=None
    )
    per_user_tool: Rate | None = setting("Token bucket per user and tool, over tools/call.", default=None)


AUDIT_EVENT_TYPES = (
    "mcp_initialize",
    "mcp_ping",
    "mcp_tool_call",
    "mcp_prompt_get",
    "mcp_resource_read",
    "mcp_list",
    "mcp_notification",
    "mcp_response",
    "mcp_request",
    "sse_connection",
    "http_request",
    "auth_failure",
    "authz_denied",
    "rate_limited",
)


@dataclass(frozen=True, slots=True)
class AuditSettings:
    enabled: bool = setting("Write one audit event per MCP operation and security decision.", default=False)
    component: str = setting("The `component` field of every event.", default="mcp-auth-sidecar")
    log_file: str | None = setting(
        "File the events are appended to, one JSON object a line; unset = standard output.", default=None
    )
    event_types: tuple[str, ...] = setting("Only these event types are written; empty = all.", default=())
    exclude_event_types: tuple[str, ...] = setting("Event types never written.", default=())
    include_request_data: bool = setting(
        "Add the request's arguments (tools/call, prompts/get) as `data.request`, up to max_data_size.",
        default=False,
    )
    max_data_size: ByteSize = setting(
        "Largest `data.request` written (its JSON size); larger ones are replaced by their size.",
        default=ByteSize(4096),
    )
