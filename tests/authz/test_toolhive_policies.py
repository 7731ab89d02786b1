# SPDX-License-Identifier: Apache-2.0
"""ToolHive's documented example policies (docs/authz.md of stacklok/toolhive) load unchanged and
decide as ToolHive documents them: claims as ``claim_*`` on the principal and in the context,
arguments as ``arg_*`` on the resource and in the context, static entities from entities_json,
forbid over permit, default deny."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sidecar.authz.decider import Decider
from sidecar.authz.operations import LISTS, Check
from sidecar.config import load_config_data
from sidecar.config.rules_authz import compile_authz

TOOLHIVE_POLICIES = [
    'permit(principal, action == Action::"call_tool", resource == Tool::"weather");',
    'permit(principal, action == Action::"get_prompt", resource == Prompt::"greeting");',
    'permit(principal, action == Action::"read_resource", resource == Resource::"data");',
    'permit(principal, action == Action::"list_tools", resource == FeatureType::"tool");',
    'permit(principal == Client::"user123", action == Action::"call_tool", resource);',
    'permit(principal, action == Action::"call_tool", resource) '
    'when { principal.claim_roles.contains("admin") };',
    """permit(principal, action == Action::"call_tool", resource == Tool::"calculator") when {
  resource.arg_operation == "add" || resource.arg_operation == "subtract"
};""",
    """permit(principal, action == Action::"call_tool", resource == Tool::"sensitive_data") when {
  principal.claim_roles.contains("data_analyst") &&
  resource.arg_data_level <= principal.claim_clearance_level
};""",
    'permit(principal, action == Action::"call_tool", resource) '
    "when { resource.owner == principal.claim_sub };",
    'forbid(principal, action == Action::"call_tool", resource == Tool::"weather") '
    'when { context.claim_name == "Mallory" };',
]
ENTITIES = [{"uid": {"type": "Tool", "id": "owned"}, "attrs": {"owner": "carol"}, "parents": []}]


@pytest.fixture(scope="module")
def decider() -> Decider:
    return _decider(TOOLHIVE_POLICIES, ENTITIES)


USER = {"sub": "someone"}


@pytest.mark.parametrize(
    ("claims", "check", "allowed"),
    [
        (USER, Check("call_tool", "Tool", "weather"), True),
        (USER, Check("get_prompt", "Prompt", "greeting"), True),
        (USER, Check("read_resource", "Resource", "data"), True),
        (USER, Check("read_resource", "Resource", "secrets"), False),
        (USER, Check("call_tool", "Tool", "deploy"), False),
        ({"sub": "user123"}, Check("call_tool", "Tool", "deploy"), True),
        ({"sub": "ann", "roles": ["admin"]}, Check("call_tool", "Tool", "deploy"), True),
        (USER, Check("call_tool", "Tool", "calculator", {"operation": "add"}), True),
        (USER, Check("call_tool", "Tool", "calculator", {"operation": "divide"}), False),
        (USER, Check("call_tool", "Tool", "calculator"), False),
        (
            {"sub": "dan", "roles": ["data_analyst"], "clearance_level": 3},
            Check("call_tool", "Tool", "sensitive_data", {"data_level": 2}),
            True,
        ),
        (
            {"sub": "dan", "roles": ["data_analyst"], "clearance_level": 3},
            Check("call_tool", "Tool", "sensitive_data", {"data_level": 5}),
            False,
        ),
        ({"sub": "carol"}, Check("call_tool", "Tool", "owned"), True),
        ({"sub": "dave"}, Check("call_tool", "Tool", "owned"), False),
        ({"sub": "m", "name": "Mallory"}, Check("call_tool", "Tool", "weather"), False),
    ],
)
def test_toolhive_examples_decide_as_documented(
    decider: Decider, claims: dict[str, Any], check: Check, allowed: bool
) -> None:
    principal = decider.principal(claims["sub"], claims)
    assert decider.decide(principal, "thv", check).allowed is allowed


def test_tool_list_holds_what_each_caller_may_call(decider: Decider) -> None:
    names = ["weather", "calculator", "deploy", "owned"]
    carol = decider.principal("carol", {"sub": "carol"})
    assert decider.allowed_items(carol, "thv", LISTS["tools/list"], names) == [True, False, False, True]


def _decider(policies: list[str], entities: list[dict[str, Any]]) -> Decider:
    raw = {
        "server": {"public_url": "https://mcp.example.com"},
        "backends": [{"name": "thv", "url": "http://127.0.0.1:8080/mcp", "path": "/mcp"}],
        "incoming_auth": {
            "type": "oidc",
            "oidc": {"issuer": "https://idp.example.com"},
            "authz": {"type": "cedar", "policies": policies, "entities_json": json.dumps(entities)},
        },
    }
    compiled, issues = compile_authz(load_config_data(raw))
    assert compiled is not None, issues
    return Decider(compiled, group_claim=None, role_claim=None)


def test_group_hierarchy_from_entities_json() -> None:
    """`ops` is inside `eng` (entities_json): a member of ops is in eng, transitively."""
    decider = _decider(
        ['permit(principal in THVGroup::"eng", action == Action::"call_tool", resource in MCP::"thv");'],
        [
            {
                "uid": {"type": "THVGroup", "id": "ops"},
                "attrs": {},
                "parents": [{"type": "THVGroup", "id": "eng"}],
            }
        ],
    )
    ops = decider.principal("o", {"sub": "o", "groups": ["ops"]})
    other = decider.principal("x", {"sub": "x", "groups": ["sales"]})
    assert decider.decide(ops, "thv", Check("call_tool", "Tool", "any")).allowed
    assert not decider.decide(other, "thv", Check("call_tool", "Tool", "any")).allowed
    assert not decider.decide(ops, "elsewhere", Check("call_tool", "Tool", "any")).allowed


def test_a_client_in_entities_json_is_merged_with_the_token() -> None:
    """A static Client keeps its attributes and parents, and gains the token's claims and groups."""
    decider = _decider(
        [
            'permit(principal, action == Action::"call_tool", resource == Tool::"a") '
            'when { principal.tier == "gold" && principal.claim_email == "c@example.com" };',
            'permit(principal in THVGroup::"vip", action == Action::"call_tool", resource == Tool::"b");',
        ],
        [
            {
                "uid": {"type": "Client", "id": "carol"},
                "attrs": {"tier": "gold"},
                "parents": [{"type": "THVGroup", "id": "vip"}],
            }
        ],
    )
    carol = decider.principal("carol", {"sub": "carol", "email": "c@example.com"})
    assert decider.decide(carol, "thv", Check("call_tool", "Tool", "a")).allowed
    assert decider.decide(carol, "thv", Check("call_tool", "Tool", "b")).allowed
