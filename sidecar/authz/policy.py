# SPDX-License-Identifier: Apache-2.0
"""Loading Cedar policies once, at start-up: parse, locate every problem by line, and refuse
entity types and actions outside ToolHive's model (a typo such as ``Tools::"x"`` would otherwise
never match, silently denying or — in a ``forbid`` — silently permitting).

cedarpy reports a parse error without its position, so each policy is parsed on its own (its
first line is known) and the failing line is the shortest run of its lines that fails with the
same reason. Nothing here does I/O; ``policies_file`` was read by the config loader.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import cedarpy

# ToolHive's model (pkg/authz/authorizers/cedar/core.go): what a policy may name.
ACTIONS = frozenset(
    {"call_tool", "get_prompt", "read_resource", "list_tools", "list_prompts", "list_resources"}
)
RESOURCE_TYPES = frozenset({"Tool", "Prompt", "Resource", "FeatureType"})
BASE_TYPES = frozenset({"Client", "Action", "MCP", *RESOURCE_TYPES})
_EOF = "unexpected end of input"


@dataclass(frozen=True, slots=True)
class PolicyText:
    """Policy text and the key path it came from (``incoming_auth.authz.policies[0]``)."""

    where: str
    text: str


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    where: str
    line: int | None  # 1-based, within the entry or file named by ``where``
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line is not None else self.reason


@dataclass(frozen=True, slots=True)
class Statement:
    text: str
    line: int  # where it starts, 1-based


Uid = tuple[str, str]


@dataclass(frozen=True, slots=True)
class CompiledPolicies:
    policies: cedarpy.PolicySet
    entities: cedarpy.Entities  # the static entities, parsed once
    static: Mapping[Uid, dict[str, Any]]  # the same as JSON, for merging with request entities
    group_entity_type: str
    count: int


def compile_policies(
    sources: list[PolicyText], *, entities_json: str, group_entity_type: str, entities_where: str
) -> tuple[CompiledPolicies | None, list[PolicyProblem]]:
    """Parse and check every policy; the compiled set, or None and every problem found."""
    problems: list[PolicyProblem] = []
    entities, static = None, {}
    try:
        entities = cedarpy.Entities.from_json_str(entities_json)
        static = {uid: item for item in json.loads(entities_json) if (uid := entity_uid(item)) is not None}
    except ValueError as exc:
        problems.append(PolicyProblem(entities_where, None, f"is not a Cedar entities array: {exc}"))
    known = BASE_TYPES | {group_entity_type} | _entity_types_in(list(static.values()))
    texts: list[str] = []
    for source in sources:
        for statement in split_statements(source.text):
            try:
                est = json.loads(cedarpy.policies_to_json_str(statement.text))
            except ValueError as exc:
                line = _failing_line(statement, str(exc))
                problems.append(PolicyProblem(source.where, line, f"Cedar cannot parse it: {exc}"))
                continue
            problems.extend(
                PolicyProblem(source.where, statement.line, reason) for reason in _model_problems(est, known)
            )
            texts.append(statement.text)
    if problems or entities is None:
        return None, problems
    return (
        CompiledPolicies(
            cedarpy.PolicySet.from_str("\n".join(texts)), entities, static, group_entity_type, len(texts)
        ),
        [],
    )


def split_statements(text: str) -> list[Statement]:
    """Cut Cedar text after each ``;`` that is outside a string and a ``//`` comment; each
    statement starts at its first character that is neither space nor comment."""
    out: list[Statement] = []
    first: int | None = None  # offset of the current statement's first character
    in_string = in_comment = escaped = False
    for i, char in enumerate(text):
        if in_comment:
            in_comment = char != "\n"
        elif in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == "/" and text.startswith("//", i):
            in_comment = True
        elif not char.isspace():
            if first is None:
                first = i
            if char == '"':
                in_string = True
            elif char == ";":
                out.append(Statement(text[first : i + 1], text.count("\n", 0, first) + 1))
                first = None
    if first is not None:  # text after the last ";" (a policy missing its end)
        out.append(Statement(text[first:], text.count("\n", 0, first) + 1))
    return out


def _failing_line(statement: Statement, reason: str) -> int:
    lines = statement.text.split("\n")
    if reason != _EOF:
        for count in range(1, len(lines) + 1):
            try:
                cedarpy.policies_to_json_str("\n".join(lines[:count]))
            except ValueError as exc:
                if str(exc) == reason:
                    return statement.line + count - 1
    return statement.line + len(lines) - 1 if reason == _EOF else statement.line


def _model_problems(est: dict[str, object], known: frozenset[str] | set[str]) -> Iterator[str]:
    for kind, entity_id in sorted(_references(est)):
        if kind not in known:
            yield (
                f"entity type {kind!r} is not part of the model (known: {', '.join(sorted(known))}); "
                "a policy naming it would never match"
            )
        elif kind == "Action" and entity_id is not None and entity_id not in ACTIONS:
            yield f"action {entity_id!r} does not exist (known: {', '.join(sorted(ACTIONS))})"


def _references(node: object) -> set[tuple[str, str | None]]:
    """Every (entity type, id) a policy's JSON form names; ``is`` tests give (type, None)."""
    found: set[tuple[str, str | None]] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            kind, entity_id = item.get("type"), item.get("id")
            if len(item) == 2 and isinstance(kind, str) and isinstance(entity_id, str):
                found.add((kind, entity_id))
            if isinstance(entity_type := item.get("entity_type"), str):
                found.add((entity_type, None))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def entity_uid(item: object) -> Uid | None:
    """The (type, id) of an entity in Cedar JSON (``{"type", "id"}`` or ``{"__entity": ...}``)."""
    uid = item.get("uid") if isinstance(item, dict) else None
    if isinstance(uid, dict) and isinstance(uid.get("__entity"), dict):
        uid = uid["__entity"]
    if (
        isinstance(uid, dict)
        and isinstance(kind := uid.get("type"), str)
        and isinstance(i := uid.get("id"), str)
    ):
        return kind, i
    return None


def _entity_types_in(document: object) -> set[str]:
    return {kind for kind, _ in _references(document)}
