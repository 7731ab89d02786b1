# SPDX-License-Identifier: Apache-2.0
"""Cedar decisions for MCP operations, cached.

Cost: the policies are parsed once (``cedarpy.PolicySet``) and the static entities once
(``cedarpy.Entities``); the principal's Cedar form is built once per token; and every decision
is kept in a bounded LRU keyed by everything it depends on — the token's claims, the backend,
the action, the resource and the scalar arguments — so a repeated call costs one dict lookup.
Policies never change while the sidecar runs (a new policy set is a restart), so no entry
goes stale; the claims include ``exp``, so an entry outlives its token only as dead weight
until the LRU evicts it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import cedarpy
import orjson
import structlog

from sidecar.authz.entities import (
    Json,
    Principal,
    argument_context,
    claim_context,
    entity,
    group_names,
)
from sidecar.authz.operations import Check, ListSpec
from sidecar.authz.policy import CompiledPolicies

log = structlog.get_logger("sidecar.authz")

_PRINCIPAL_CACHE = 10_000
_DECISION_CACHE = 100_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    check: Check
    backend: str


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self._size, self._items = size, OrderedDict[K, V]()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        if len(self._items) > self._size:
            self._items.popitem(last=False)


class Decider:
    """Decides with a compiled policy set; ``group_claim``/``role_claim`` as configured."""

    def __init__(
        self, compiled: CompiledPolicies, *, group_claim: str | None, role_claim: str | None
    ) -> None:
        self._compiled = compiled
        self._group_claim, self._role_claim = group_claim, role_claim
        self._principals = _Lru[bytes, Principal](_PRINCIPAL_CACHE)
        self._decisions = _Lru[tuple[object, ...], bool](_DECISION_CACHE)
        self._with_principal = _Lru[bytes, cedarpy.Entities](_PRINCIPAL_CACHE)

    def principal(self, subject: str | None, claims: Mapping[str, object]) -> Principal:
        try:
            key = orjson.dumps(claims, option=orjson.OPT_SORT_KEYS, default=str)
        except TypeError:  # an integer past 64 bits (the JSON parser accepts them)
            key = json.dumps(claims, sort_keys=True, default=str).encode()
        if (cached := self._principals.get(key)) is not None:
            return cached
        principal = Principal(
            subject=subject or "",
            parents=group_names(claims, self._group_claim, self._role_claim),
            claims=claim_context(claims),
            key=key,
        )
        self._principals.put(key, principal)
        return principal

    def decide(self, principal: Principal, backend: str, check: Check) -> Decision:
        args = argument_context(check.arguments)
        key = (principal.key, backend, check.action, check.resource_type, check.name, _typed(args))
        allowed = self._decisions.get(key)
        if allowed is None:
            allowed = self._evaluate(principal, backend, [check], args)[0]
            self._decisions.put(key, allowed)
        return Decision(allowed, check, backend)

    def allowed_items(
        self, principal: Principal, backend: str, spec: ListSpec, names: list[str]
    ) -> list[bool]:
        """For a list result: may the caller use each item (``call_tool`` for a tool, ...)?"""
        checks = [Check(spec.action, spec.resource_type, name) for name in names]
        keys = [(principal.key, backend, c.action, c.resource_type, c.name, ()) for c in checks]
        answers = [self._decisions.get(key) for key in keys]
        missing = [i for i, answer in enumerate(answers) if answer is None]
        if missing:
            fresh = self._evaluate(principal, backend, [checks[i] for i in missing], {})
            for i, allowed in zip(missing, fresh, strict=True):
                answers[i] = allowed
                self._decisions.put(keys[i], allowed)
        return [bool(answer) for answer in answers]

    def _entities(self, principal: Principal, delta: list[dict[str, Any]]) -> cedarpy.Entities:
        static = self._compiled.static
        if not any(_uid(item) in static for item in delta):
            # The static entities and the caller, parsed once per token; the resources per call.
            with_principal = self._with_principal.get(principal.key)
            if with_principal is None:
                with_principal = self._compiled.entities.with_added_json_str(json.dumps(delta[:1]))
                self._with_principal.put(principal.key, with_principal)
            return with_principal.with_added_json_str(json.dumps(delta[1:]))
        # Cedar refuses a second entry for one entity: rebuild this request's set with the
        # static definition and ours merged (rare: entities_json naming a tool or a client).
        ours = {_uid(item): item for item in delta}
        merged = [_merge(item, ours.pop(uid)) if uid in ours else item for uid, item in static.items()]
        return cedarpy.Entities.from_json_str(json.dumps([*merged, *ours.values()]))

    def _evaluate(
        self, principal: Principal, backend: str, checks: list[Check], args: Mapping[str, Json]
    ) -> list[bool]:
        client = ("Client", principal.subject)
        group_type = self._compiled.group_entity_type
        delta = [
            entity(*client, attrs=principal.claims, parents=((group_type, g) for g in principal.parents)),
            *_resources(checks, backend, args),
        ]
        context = {**principal.claims, **args}
        requests = [
            {
                "principal": {"type": client[0], "id": client[1]},
                "action": {"type": "Action", "id": check.action},
                "resource": {"type": check.resource_type, "id": check.name},
                "context": context,
            }
            for check in checks
        ]
        try:
            entities = self._entities(principal, delta)
            results = cedarpy.is_authorized_batch(requests, self._compiled.policies, entities)
        except ValueError as exc:
            # e.g. an entity Cedar refuses: fail closed, and say why.
            log.error("authz_evaluation_failed", backend=backend, error=str(exc))
            return [False] * len(checks)
        for result in results:
            if result.diagnostics.errors:
                # A policy that errs (a missing attribute, say) is skipped by Cedar, as in ToolHive.
                log.debug("authz_policy_errors", backend=backend, errors=result.diagnostics.errors)
        return [result.allowed for result in results]


def _resources(checks: Iterable[Check], backend: str, args: Mapping[str, Json]) -> list[dict[str, Any]]:
    # ToolHive puts the arguments on the resource too (``resource.arg_location``).
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for check in checks:
        uid = (check.resource_type, check.name)
        if uid not in seen:
            attrs = {"name": check.name, "operation": check.action, "feature": check.resource_type.lower()}
            seen[uid] = entity(*uid, attrs={**args, **attrs}, parents=[("MCP", backend)])
    return list(seen.values())


def _merge(static: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """A request entity that entities_json also defines: both attributes (ours win) and parents."""
    parents = [
        *static.get("parents", []),
        *(p for p in ours["parents"] if p not in static.get("parents", [])),
    ]
    return {
        **static,
        "uid": ours["uid"],
        "attrs": {**static.get("attrs", {}), **ours["attrs"]},
        "parents": parents,
    }


def _uid(item: dict[str, Any]) -> tuple[str, str]:
    return item["uid"]["type"], item["uid"]["id"]


def _typed(args: Mapping[str, object]) -> tuple[object, ...]:
    # True == 1 == 1.0 in Python: the type is part of the key, or one would answer for another.
    return tuple(sorted((name, type(value).__name__, repr(value)) for name, value in args.items()))
