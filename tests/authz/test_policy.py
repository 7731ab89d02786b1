# SPDX-License-Identifier: Apache-2.0
"""Loading policies: every problem is refused with its key path, its line and the reason, and
only ToolHive's entity types and actions may be named."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.authz.policy import PolicyText, compile_policies, split_statements
from sidecar.config import ConfigError, load_config_text
from tests.support import run_cli

CONFIG = """
server: {{public_url: https://mcp.example.com}}
backends: [{{name: demo, url: "http://127.0.0.1:3001/mcp", path: /mcp}}]
incoming_auth:
  type: oidc
  oidc: {{issuer: https://idp.example.com}}
  authz:
    type: cedar
    {policies}
"""


def _problems(text: str, entities: str = "[]") -> list[str]:
    compiled, problems = compile_policies(
        [PolicyText("p", text)], entities_json=entities, group_entity_type="THVGroup", entities_where="e"
    )
    assert (compiled is None) == bool(problems)
    return [str(problem) for problem in problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("permit(principal, action, resource)\n  when { context.x like };", "line 2: Cedar cannot parse it"),
        ("permit(principal, action,\n resource)", "line 2: Cedar cannot parse it: unexpected end of input"),
        ("// one\n\nforbid(principal, action, resource) when { x };", "line 3: Cedar cannot parse it"),
        (
            'permit(principal, action, resource == Tools::"x");',
            "entity type 'Tools' is not part of the model",
        ),
        ('permit(principal, action == Action::"call", resource);', "action 'call' does not exist"),
        ("permit(principal is User, action, resource);", "entity type 'User' is not part of the model"),
        ('permit(principal, action, resource) when { principal in Team::"a" };', "'Team'"),
    ],
)
def test_bad_policy_is_refused_with_line_and_reason(text: str, expected: str) -> None:
    problems = _problems(text)
    assert len(problems) == 1
    assert expected in problems[0]


@pytest.mark.parametrize(
    "text",
    [
        'permit(principal, action == Action::"call_tool", resource == Tool::"a;b");',
        'permit(principal in THVGroup::"eng", action in [Action::"list_tools", Action::"get_prompt"], '
        'resource in MCP::"github");',
        'permit(principal, action, resource is FeatureType) when { context.claim_sub == "x" };',
        'forbid(principal, action == Action::"read_resource", resource == Resource::"file:///etc;x");',
    ],
)
def test_model_policies_load(text: str) -> None:
    assert _problems(text) == []


def test_entity_types_from_entities_json_may_be_named() -> None:
    entities = '[{"uid": {"type": "Team", "id": "a"}, "attrs": {}, "parents": []}]'
    assert _problems('permit(principal in Team::"a", action, resource);', entities) == []


def test_statements_split_outside_strings_and_comments() -> None:
    text = (
        '// a; b\npermit(principal, action, resource == Tool::"x;y");\n'
        "\n  forbid(principal, action, resource);"
    )
    assert [(s.line, s.text[:6]) for s in split_statements(text)] == [(2, "permit"), (4, "forbid")]


def test_unparsable_policy_stops_loading_with_key_path_and_line() -> None:
    text = CONFIG.format(policies='policies: ["permit(principal, action, resource)\\n when { ok };"]')
    with pytest.raises(ConfigError) as error:
        load_config_text(text)
    assert str(error.value).startswith("incoming_auth.authz.policies[0]: line 2: Cedar cannot parse it")


def test_check_config_names_the_line_of_a_policies_file(tmp_path: Path) -> None:
    """`check-config` (as `serve`) refuses a policies file that does not parse, at its line."""
    (tmp_path / "policies.cedar").write_text(
        'permit(principal, action == Action::"call_tool", resource == Tool::"add");\n'
        "\n"
        "permit(principal, action, resource)\n"
        "  when { context.claim_sub like };\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG.format(policies="policies_file: policies.cedar"))
    result = run_cli("check-config", "--config", str(config))
    assert result.returncode != 0
    assert "incoming_auth.authz.policies_file: line 4: Cedar cannot parse it: unexpected token" in (
        result.stdout + result.stderr
    )


def test_empty_policies_warn_that_everything_is_denied() -> None:
    settings = load_config_text(CONFIG.format(policies="policies: []"))
    assert [issue.path for issue in settings.warnings] == ["incoming_auth.authz.policies"]
