# SPDX-License-Identifier: Apache-2.0
"""Scenario 6, access control micro-benchmark: the cost the policies add per ``tools/call``
(what ``Gate.admit`` does: parse the body, check the headers, decide) with 20 policies versus
none, a fresh decision (every call has new arguments: the cache misses) versus a repeated one
(the decision cache answers); and a ``tools/list`` result of 50 tools filtered."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from multidict import CIMultiDict

from bench.harness import per_call_us
from sidecar.authz.gate import Gate
from sidecar.authz.operations import classify
from sidecar.authz.policy import PolicyText, compile_policies
from sidecar.config.authz import Rate, RateLimits
from sidecar.config.values import parse_duration
from sidecar.observability.metrics import Metrics
from sidecar.ratelimit.limiter import RateLimiter
from sidecar.ratelimit.store import MemoryBuckets

HEADERS: CIMultiDict[str] = CIMultiDict({"Mcp-Method": "tools/call", "Mcp-Name": "tool_7"})
CLAIMS = {"sub": "alice", "groups": ["eng", "ops"], "email": "alice@example.com", "exp": 2_000_000_000}


def policies(count: int) -> list[str]:
    """``count`` policies of the kinds real sets hold: per tool, per group, per argument."""
    out = []
    for i in range(count):
        if i % 3 == 0:
            out.append(f'permit(principal, action == Action::"call_tool", resource == Tool::"tool_{i}");')
        elif i % 3 == 1:
            out.append(
                f'permit(principal in THVGroup::"group_{i}", action == Action::"call_tool", '
                f'resource == Tool::"tool_{i}");'
            )
        else:
            out.append(
                f'permit(principal, action == Action::"call_tool", resource == Tool::"tool_{i}") '
                'when { context has arg_path && context.arg_path like "/public/*" };'
            )
    out.append(
        'permit(principal in THVGroup::"ops", action == Action::"call_tool", resource == Tool::"tool_7");'
    )
    return out[-count:] if count else []


@dataclass(frozen=True)
class Row:
    case: str
    micros: float


def _per_call(call: Callable[[int], object], iterations: int) -> float:
    for i in range(min(iterations, 100)):
        call(-i - 1)
    started = time.perf_counter()
    for i in range(iterations):
        call(i)
    return (time.perf_counter() - started) / iterations * 1e6


def _body(i: int) -> bytes:
    call = {"name": "tool_7", "arguments": {"path": f"/public/{i}", "n": i}}
    return json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": call}).encode()


def _gate(count: int) -> Gate:
    sources = [PolicyText(f"policies[{i}]", text) for i, text in enumerate(policies(count))]
    compiled, problems = compile_policies(
        sources, entities_json="[]", group_entity_type="THVGroup", entities_where="entities_json"
    )
    if compiled is None:
        raise RuntimeError(problems)
    return Gate(compiled, group_claim=None, role_claim=None, metrics=Metrics())


def run(*, smoke: bool) -> list[Row]:
    iterations = 200 if smoke else 5000
    bodies = [_body(i) for i in range(iterations)]
    repeated = _body(0)
    gate = _gate(20)
    listing = json.dumps(
        {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": f"tool_{i}"} for i in range(50)]}}
    ).encode()
    list_body = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}'

    def parse_only(i: int) -> object:
        return classify(bodies[i % iterations], HEADERS)

    def fresh(i: int) -> object:
        return gate.admit("alice", CLAIMS, "bench", bodies[i % iterations], HEADERS)

    def cached(_i: int) -> object:
        return gate.admit("alice", CLAIMS, "bench", repeated, HEADERS)

    def filtered(_i: int) -> object:
        admission = gate.admit("alice", CLAIMS, "bench", list_body, CIMultiDict())
        if admission.listing is None:
            raise RuntimeError("tools/list was not admitted with a filter")
        return admission.listing.json(listing)

    limiter = RateLimiter(
        RateLimits(per_user=_UNLIMITED, per_tool=_UNLIMITED, per_user_tool=_UNLIMITED),
        MemoryBuckets(),
        Metrics(),
    )

    calls = itertools.count()

    async def rate_limited() -> object:
        # Three buckets taken per tools/call (user, tool, user and tool), none ever empty here.
        i = next(calls)
        return await limiter.check(f"user_{i % 1000}", "bench", f"tool_{i % 20}")

    return [
        Row(
            "no policies: the body parsed only (what admit adds at least)", _per_call(parse_only, iterations)
        ),
        Row(
            "rate limits per user, tool and user+tool (three buckets, memory)",
            asyncio.run(per_call_us(rate_limited, iterations)),
        ),
        Row("20 policies, fresh decision (cache miss)", _per_call(fresh, iterations)),
        Row("20 policies, repeated call (cache hit)", _per_call(cached, iterations * 4)),
        Row("20 policies, tools/list of 50 tools filtered (cached)", _per_call(filtered, iterations)),
    ]


_UNLIMITED = Rate(requests=1_000_000_000, per=parse_duration("1m"))


def report(rows: list[Row]) -> str:
    lines = ["| case | µs per request |", "|---|---|"]
    lines += [f"| {row.case} | {row.micros:.1f} |" for row in rows]
    return "\n".join(lines)
