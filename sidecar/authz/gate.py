# SPDX-License-Identifier: Apache-2.0
"""The one call the forwarder makes per request: may this body reach the backend, and is its
response a list to filter? Returns a value; the forwarder renders it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import structlog
from multidict import MultiMapping

from sidecar.authz.decider import Decider
from sidecar.authz.entities import Principal
from sidecar.authz.listfilter import SseListFilter, filter_json
from sidecar.authz.operations import DENIED_CODE, LISTS, ListSpec, Operation, Refused, classify
from sidecar.authz.policy import CompiledPolicies
from sidecar.observability.metrics import Metrics
from sidecar.proxy.jsonrpc import error_body

log = structlog.get_logger("sidecar.authz")


@dataclass(frozen=True, slots=True)
class Admission:
    """``refusal`` set: answer it with ``status`` and nothing is forwarded. Otherwise forward,
    and filter the response when ``listing`` is set."""

    status: int = 200
    refusal: dict[str, object] | None = None
    operation: Operation | None = None
    listing: ListFilter | None = None


class ListFilter:
    """Filters one response for one caller."""

    def __init__(self, decider: Decider, principal: Principal, backend: str, specs: tuple[ListSpec, ...]):
        self._decider, self._principal, self._backend, self._specs = decider, principal, backend, specs

    def allowed(self, spec: ListSpec, names: list[str]) -> list[bool]:
        return self._decider.allowed_items(self._principal, self._backend, spec, names)

    def json(self, body: bytes) -> bytes:
        return filter_json(body, self._specs, self.allowed)

    def sse(self) -> SseListFilter:
        return SseListFilter(self._specs, self.allowed)


class Gate:
    def __init__(
        self,
        compiled: CompiledPolicies,
        *,
        group_claim: str | None,
        role_claim: str | None,
        metrics: Metrics,
    ) -> None:
        self._decider = Decider(compiled, group_claim=group_claim, role_claim=role_claim)
        self._metrics = metrics

    def admit(
        self,
        subject: str | None,
        claims: Mapping[str, object],
        backend: str,
        body: bytes | None,
        headers: MultiMapping[str],
    ) -> Admission:
        """Decide a POST body (the whole of it)."""
        try:
            operation = classify(body, headers)
        except Refused as refused:
            self._metrics.authz_decisions.labels(backend, "none", "refused").inc()
            return Admission(refused.status, error_body(refused.rpc_id, refused.code, refused.message))
        principal = self._decider.principal(subject, claims)
        if operation.denied:
            self._metrics.authz_decisions.labels(backend, "none", "denied").inc()
            return _denied(operation, f"{operation.method} is not allowed by the authorization policies")
        if operation.check is not None:
            decision = self._decider.decide(principal, backend, operation.check)
            result = "allowed" if decision.allowed else "denied"
            self._metrics.authz_decisions.labels(backend, operation.check.action, result).inc()
            if not decision.allowed:
                log.info("authz_denied", backend=backend, method=operation.method, name=operation.check.name)
                return _denied(operation, f"{operation.check.describe()} is not allowed")
        if operation.listing is not None:
            listing = ListFilter(self._decider, principal, backend, (operation.listing,))
            return Admission(operation=operation, listing=listing)
        return Admission(operation=operation)

    def stream_filter(self, subject: str | None, claims: Mapping[str, object], backend: str) -> ListFilter:
        """For a GET stream: list responses on it (the legacy transport's, or replayed on a
        resumed stream) are filtered whatever request they answer."""
        principal = self._decider.principal(subject, claims)
        return ListFilter(self._decider, principal, backend, tuple(LISTS.values()))


def _denied(operation: Operation, message: str) -> Admission:
    # Names the operation, never the policy text (which may hold names of other users' tools).
    return Admission(403, error_body(operation.rpc_id, DENIED_CODE, message), operation)
