# SPDX-License-Identifier: Apache-2.0
"""Schema of ``incoming_auth.authz``: MCP-aware access control with Cedar policies. Key names are
ToolHive's vMCP ``authz`` keys in snake_case, so a ToolHive policy set carries over unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sidecar.config.fields import setting

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
