# SPDX-License-Identifier: Apache-2.0
"""Rules of ``incoming_auth.authz``, ``incoming_auth.rate_limits`` and ``audit``: the policies
parse, name only ToolHive's entity types and actions, and the static entities are a Cedar
entities array; buckets hold at least one request; audit event types exist. Compiling is cheap
(milliseconds), so ``serve`` compiles again from the same settings instead of carrying it along."""

from __future__ import annotations

import re
from collections.abc import Iterator

from sidecar.authz.policy import CompiledPolicies, PolicyText, compile_policies
from sidecar.config.authz import AUDIT_EVENT_TYPES, CedarAuthz
from sidecar.config.errors import ConfigIssue, warning
from sidecar.config.schema import OidcIncoming, Settings

_WHERE = "incoming_auth.authz"
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*")  # Cedar grammar: Path
_FIX = "see docs/authorization.md for the entity model"


def cedar_authz(settings: Settings) -> CedarAuthz | None:
    auth = settings.incoming_auth
    if isinstance(auth, OidcIncoming) and isinstance(auth.authz, CedarAuthz):
        return auth.authz
    return None


def compile_authz(settings: Settings) -> tuple[CompiledPolicies | None, list[ConfigIssue]]:
    """The compiled policies of ``settings`` (None without Cedar authz or on a problem)."""
    authz = cedar_authz(settings)
    if authz is None:
        return None, []
    issues: list[ConfigIssue] = []
    if not _IDENTIFIER.fullmatch(authz.group_entity_type):
        issues.append(
            ConfigIssue(f"{_WHERE}.group_entity_type", "is not a Cedar entity type", "write e.g. THVGroup")
        )
        return None, issues
    sources = [PolicyText(f"{_WHERE}.policies[{i}]", text) for i, text in enumerate(authz.policies)]
    if settings.secrets.policy_file_text is not None:
        sources.append(PolicyText(f"{_WHERE}.policies_file", settings.secrets.policy_file_text))
    compiled, problems = compile_policies(
        sources,
        entities_json=authz.entities_json,
        group_entity_type=authz.group_entity_type,
        entities_where=f"{_WHERE}.entities_json",
    )
    issues += [ConfigIssue(p.where, str(p), _FIX) for p in problems]
    if compiled is not None and compiled.count == 0 and authz.policies_file is None:
        issues.append(
            warning(f"{_WHERE}.policies", "is empty: every tool, prompt and resource is denied", _FIX)
        )
    return compiled, issues


def check_authz(settings: Settings) -> list[ConfigIssue]:
    return compile_authz(settings)[1] + list(_check_rate_limits(settings)) + list(_check_audit(settings))


def _check_audit(settings: Settings) -> Iterator[ConfigIssue]:
    for key in ("event_types", "exclude_event_types"):
        for index, name in enumerate(getattr(settings.audit, key)):
            if name not in AUDIT_EVENT_TYPES:
                yield ConfigIssue(
                    f"audit.{key}[{index}]",
                    f"{name!r} is not an audit event type",
                    f"choose from {', '.join(AUDIT_EVENT_TYPES)}",
                )


def _check_rate_limits(settings: Settings) -> Iterator[ConfigIssue]:
    auth = settings.incoming_auth
    limits = auth.rate_limits if isinstance(auth, OidcIncoming) else None
    if limits is None:
        return
    for name in ("per_user", "per_tool", "per_user_tool"):
        rate = getattr(limits, name)
        where = f"incoming_auth.rate_limits.{name}"
        if rate is None:
            continue
        if rate.requests < 1:
            yield ConfigIssue(f"{where}.requests", "must be at least 1", "omit the bucket to turn it off")
        if rate.per <= 0:
            yield ConfigIssue(f"{where}.per", "must be greater than zero")
        if rate.burst is not None and rate.burst < 1:
            yield ConfigIssue(f"{where}.burst", "must be at least 1", "omit it to allow `requests` at once")
