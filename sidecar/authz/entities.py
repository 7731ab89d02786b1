# SPDX-License-Identifier: Apache-2.0
"""Cedar entities and context for one request, in ToolHive's shape (``pkg/authz/authorizers/
cedar/entity.go``): principal ``Client::"<sub>"`` whose parents are its groups and roles
(``THVGroup::"<g>"``), resources ``Tool``/``Prompt``/``Resource``/``FeatureType`` whose parent
is ``MCP::"<backend>"``, and a context of ``claim_<name>`` (``claimset_<name>`` for lists) and
``arg_<name>`` (``arg_<name>_present`` for arguments that are not scalars).

Values become Cedar JSON: strings, booleans, 64-bit integers, decimals (4 places), sets and
records. SECURITY: Cedar JSON reads a record with the key ``__entity`` or ``__extn`` as an
entity reference or an extension value; record keys starting with ``__`` are dropped, and tool
arguments are never turned into records at all, so a caller cannot forge a value's type.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_GROUP_CLAIMS = ("groups", "roles", "cognito:groups")
_MAX_DEPTH = 10  # as ToolHive's maxClaimNestingDepth: claims nested deeper are dropped
_LONG = 2**63
# Cedar decimals stop at 922337203685477.5807; a float near it may print past it, so stay well below.
_DECIMAL_MAX = 1e14

Json = object


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller as Cedar sees it; built once per token (see ``Decider.principal``)."""

    subject: str
    parents: tuple[str, ...]  # group and role names
    claims: Mapping[str, Json]  # claim_* and claimset_* context values, Cedar JSON
    key: bytes  # what decisions are cached by


def claim_context(claims: Mapping[str, object]) -> dict[str, Json]:
    """``claim_<name>`` for every claim Cedar can represent; lists also as ``claimset_<name>``."""
    out: dict[str, Json] = {}
    for name, value in claims.items():
        converted = cedar_value(value, 0)
        if converted is None:
            continue
        out[f"claim_{name}"] = converted
        if isinstance(value, list):
            out[f"claimset_{name}"] = converted
    return out


def group_names(
    claims: Mapping[str, object], group_claim: str | None, role_claim: str | None
) -> tuple[str, ...]:
    """The caller's groups (the configured claim, else the first default claim present) and roles."""
    names: list[str] = []
    if group_claim is not None:
        names += _strings(claims.get(group_claim))
    else:
        for candidate in DEFAULT_GROUP_CLAIMS:
            if candidate in claims:
                names += _strings(claims[candidate])
                break
    if role_claim is not None:
        names += _strings(claims.get(role_claim))
    return tuple(dict.fromkeys(names))


def argument_context(arguments: object) -> dict[str, Json]:
    """``arg_<name>`` for scalar arguments, ``arg_<name>_present`` for every other one."""
    if not isinstance(arguments, Mapping):
        return {}
    out: dict[str, Json] = {}
    for name, value in arguments.items():
        scalar = _scalar(value) if not isinstance(value, list | dict) else None
        if scalar is not None:
            out[f"arg_{name}"] = scalar
        else:
            out[f"arg_{name}_present"] = True
    return out


def entity(
    kind: str, entity_id: str, *, attrs: Mapping[str, Json], parents: Iterable[tuple[str, str]]
) -> dict[str, Any]:
    return {
        "uid": {"type": kind, "id": entity_id},
        "attrs": dict(attrs),
        "parents": [{"type": t, "id": i} for t, i in parents],
    }


def cedar_value(value: object, depth: int) -> Json | None:
    """A JSON value as Cedar JSON, or None when Cedar has no such value (null, huge numbers)."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(value, list):
        return [c for item in value if (c := cedar_value(item, depth + 1)) is not None]
    if isinstance(value, dict):
        return {
            str(k): c
            for k, v in value.items()
            if not str(k).startswith("__") and (c := cedar_value(v, depth + 1)) is not None
        }
    return _scalar(value)


def _scalar(value: object) -> Json | None:
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if -_LONG <= value < _LONG else None
    if isinstance(value, float) and math.isfinite(value) and abs(value) <= _DECIMAL_MAX:
        if value.is_integer() and abs(value) < 2**53:
            return int(value)  # JSON does not tell 1 from 1.0; Cedar compares Longs
        return {"__extn": {"fn": "decimal", "arg": f"{value:.4f}"}}
    return None


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []
