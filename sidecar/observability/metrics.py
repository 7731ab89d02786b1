# SPDX-License-Identifier: Apache-2.0
"""Every metric the sidecar exports, defined in one place (prefix ``mcp_sidecar_``).

Label values are bounded: backend names come from the config, HTTP methods and MCP methods from
fixed sets, statuses are HTTP status codes. ``docs/operations.md`` lists each metric.

With ``server.workers`` above 1, each worker's samples live in files of a directory the supervisor
made (prometheus-client's multiprocess mode) and ``/metrics`` reads them all: counters and
histograms are summed over every worker that ever ran, each gauge is merged by its
``multiprocess_mode`` over the workers alive. With one process nothing of this runs.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from sidecar import __version__

# Time to first byte of a proxied request: sub-millisecond to a slow tool call.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

HTTP_METHODS = frozenset({"GET", "POST", "DELETE", "HEAD", "OPTIONS", "PUT", "PATCH"})
NO_BACKEND = "-"
"""The backend label of requests the sidecar answers itself (health, metrics, 404s)."""


class Metrics:
    """The metric families of one sidecar, registered in their own registry.

    ``exposition`` is what ``/metrics`` serves: ``registry`` itself, or for a worker of several
    (``multiprocess_dir`` set) every worker's samples read from that directory.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, multiprocess_dir: str | None = None
    ) -> None:
        self.registry = registry or CollectorRegistry()
        self.exposition = self.registry
        if multiprocess_dir is not None:
            self.exposition = CollectorRegistry()
            MultiProcessCollector(self.exposition, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        # The per-request updates: one slot per label set, looked up in these maps (labels()
        # takes a lock and builds a tuple per call). With one process a slot keeps its updates
        # as plain numbers until the registry is read: _Pending, the registry's first collector,
        # adds them to the metrics then, so every scrape sees every request counted before it.
        # A worker of several writes each update to its file at once (another worker's scrape
        # reads it there).
        self._pending = _Pending() if multiprocess_dir is None else None
        if self._pending is not None:
            self.registry.register(self._pending)
        self._request_children: dict[tuple[str, str, int], _Slot] = {}
        self._duration_children: dict[str, _Slot] = {}
        self._mcp_children: dict[tuple[str, str], _Slot] = {}
        self._outgoing_children: dict[tuple[str, str], _Slot] = {}
        self._validation_children: dict[tuple[str, str], _Slot] = {}
        self._validation_timers: dict[str, _Slot] = {}
        r = self.registry
        self.requests = Counter(
            "mcp_sidecar_requests",
            "HTTP requests handled, by backend, HTTP method and status.",
            ["backend", "method", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "mcp_sidecar_request_duration_seconds",
            "Time from request receipt to the first response byte (whole response when not streamed).",
            ["backend"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.active_streams = Gauge(
            "mcp_sidecar_active_streams",
            "SSE responses currently streaming to clients.",
            ["backend"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.backend_up = Gauge(
            "mcp_sidecar_backend_up",
            "1 when the backend's last readiness probe succeeded.",
            ["backend"],
            registry=r,
            # Every worker probes; 0 as soon as one of them finds the backend down.
            multiprocess_mode="livemin",
        )
        self.mcp_requests = Counter(
            "mcp_sidecar_mcp_messages",
            "JSON-RPC messages sent to backends, by MCP method.",
            ["backend", "mcp_method"],
            registry=r,
        )
        self.backend_errors = Counter(
            "mcp_sidecar_backend_errors",
            "Backend failures: connect (refused/unreachable), timeout, disconnect (mid-response).",
            ["backend", "reason"],
            registry=r,
        )
        self.client_disconnects = Counter(
            "mcp_sidecar_client_disconnects",
            "Responses cut short because the client went away; the backend request is closed.",
            ["backend"],
            registry=r,
        )
        self.internal_errors = Counter(
            "mcp_sidecar_internal_errors",
            "Requests that failed with an unexpected exception in the sidecar (answered 500).",
            ["backend"],
            registry=r,
        )
        self.token_validations = Counter(
            "mcp_sidecar_token_validations",
            "Bearer-token checks by result (ok, or the rejection reason) and key source "
            "(local, cache, jwks, introspection, none).",
            ["result", "source"],
            registry=r,
        )
        self.token_validation_duration = Histogram(
            "mcp_sidecar_token_validation_duration_seconds",
            "Time to authenticate a request, by key source.",
            ["source"],
            buckets=(0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5),
            registry=r,
        )
        self.jwks_fetches = Counter(
            "mcp_sidecar_jwks_fetches",
            "JWKS (and discovery) fetches by result: ok, error.",
            ["result"],
            registry=r,
        )
        self.jwks_keys = Gauge(
            "mcp_sidecar_jwks_keys",
            "Usable keys in the last JWKS fetched.",
            registry=r,
            multiprocess_mode="livemostrecent",
        )
        self.tokens_issued = Counter(
            "mcp_sidecar_tokens_issued",
            "Access tokens issued by the authorization server, by grant type.",
            ["grant_type"],
            registry=r,
        )
        self.authorizations = Counter(
            "mcp_sidecar_authorizations",
            "Authorization-flow outcomes: started, login_failed, code_issued, denied, error.",
            ["outcome"],
            registry=r,
        )
        self.client_registrations = Counter(
            "mcp_sidecar_client_registrations",
            "Dynamic client registrations by result: ok, rejected, throttled.",
            ["result"],
            registry=r,
        )
        self.registered_clients = Gauge(
            "mcp_sidecar_registered_clients",
            "Clients in the authorization server's registry.",
            registry=r,
            multiprocess_mode="livemostrecent",  # one shared store: the latest count is the count
        )
        self.client_evictions = Counter(
            "mcp_sidecar_client_evictions",
            "Clients removed from the registry: idle (past client_idle_ttl), capacity (made room).",
            ["reason"],
            registry=r,
        )
        self.oauth_errors = Counter(
            "mcp_sidecar_oauth_errors",
            "OAuth errors answered, by endpoint and RFC 6749 error code.",
            ["endpoint", "error"],
            registry=r,
        )
        self.authz_decisions = Counter(
            "mcp_sidecar_authz_decisions",
            "Policy decisions by backend, Cedar action (call_tool, get_prompt, read_resource; none for "
            "methods denied outright and bodies refused before any decision) and result: allowed, "
            "denied, refused. List items filtered out are not counted.",
            ["backend", "action", "result"],
            registry=r,
        )
        self.rate_limited = Counter(
            "mcp_sidecar_rate_limited",
            "MCP requests refused by a rate limit (429), by backend and bucket: user, tool, user_tool.",
            ["backend", "bucket"],
            registry=r,
        )
        self.outgoing_auth = Counter(
            "mcp_sidecar_outgoing_auth",
            "Outgoing-auth credentials added to backend requests, by strategy and result.",
            ["strategy", "result"],
            registry=r,
        )
        self.upstream_refreshes = Counter(
            "mcp_sidecar_upstream_refreshes",
            "Refresh grants sent to upstream providers for outgoing auth, by provider and result.",
            ["provider", "result"],
            registry=r,
        )
        self.chain_legs = Counter(
            "mcp_sidecar_chain_legs",
            "Legs of chained upstream logins, by upstream and outcome.",
            ["upstream", "outcome"],
            registry=r,
        )
        self.draining = Gauge(
            "mcp_sidecar_draining",
            "1 while the sidecar is shutting down.",
            registry=r,
            multiprocess_mode="livemax",
        )
        build = Info("mcp_sidecar_build", "Version of the sidecar.", registry=r)
        build.info({"version": __version__})
        if self.exposition is not r:
            # Not in the files (prometheus-client keeps Info in process), and the same in every worker.
            self.exposition.register(build)

    # The storage's ClientEvents.
    def client_evicted(self, reason: str) -> None:
        self.client_evictions.labels(reason).inc()

    def clients_registered(self, count: int) -> None:
        self.registered_clients.set(count)

    def watch_storage(self, sizes: Callable[[], Mapping[str, int]]) -> None:
        """Export the store's entry counts, read at each scrape (a shared store's are the same
        from every worker)."""
        entries = _StorageEntries(sizes)
        self.registry.register(entries)
        if self.exposition is not self.registry:
            self.exposition.register(entries)

    @staticmethod
    def method_label(method: str) -> str:
        return method if method in HTTP_METHODS else "other"

    def count_request(self, backend: str, method: str, status: int) -> None:
        key = (backend, method, status)
        slot = self._request_children.get(key)
        if slot is None:
            child = self.requests.labels(backend, self.method_label(method), status)
            slot = self._request_children[key] = self._slot(_Count(child))
        slot.add(1)

    def observe_duration(self, backend: str, seconds: float) -> None:
        slot = self._duration_children.get(backend)
        if slot is None:
            slot = self._duration_children[backend] = self._slot(
                _Observed(self.request_duration.labels(backend))
            )
        slot.add(seconds)

    def count_validation(self, result: str, source: str, seconds: float) -> None:
        key = (result, source)
        slot = self._validation_children.get(key)
        if slot is None:
            slot = self._validation_children[key] = self._slot(
                _Count(self.token_validations.labels(result, source))
            )
        slot.add(1)
        timer = self._validation_timers.get(source)
        if timer is None:
            child = self.token_validation_duration.labels(source)
            timer = self._validation_timers[source] = self._slot(_Observed(child))
        timer.add(seconds)

    def count_mcp(self, backend: str, method: str) -> None:
        key = (backend, method)
        slot = self._mcp_children.get(key)
        if slot is None:
            slot = self._mcp_children[key] = self._slot(_Count(self.mcp_requests.labels(backend, method)))
        slot.add(1)

    def count_outgoing(self, strategy: str, result: str) -> None:
        key = (strategy, result)
        slot = self._outgoing_children.get(key)
        if slot is None:
            slot = self._outgoing_children[key] = self._slot(
                _Count(self.outgoing_auth.labels(strategy, result))
            )
        slot.add(1)

    def _slot(self, slot: _Slot) -> _Slot:
        """``slot``, kept until the next read with one process; written through with workers."""
        if self._pending is None:
            return _Direct(slot)
        self._pending.slots.append(slot)
        return slot


class _Slot(Protocol):
    def add(self, amount: float) -> None: ...

    def flush(self) -> None: ...


class _Count:
    """A counter child's increments since the last read."""

    __slots__ = ("_child", "_pending")

    def __init__(self, child: Counter) -> None:
        self._child = child
        self._pending = 0.0

    def add(self, amount: float) -> None:
        self._pending += amount

    def flush(self) -> None:
        if self._pending:
            amount, self._pending = self._pending, 0.0
            self._child.inc(amount)


class _Observed:
    """A histogram child's observations since the last read: their sum, and how many fell in
    each bucket (the first whose bound holds the amount, as Histogram.observe counts them;
    found by bisection). A read adds both to the child's values; where this prometheus_client
    keeps them elsewhere, each observation goes to ``observe`` at once instead."""

    __slots__ = ("_bounds", "_buckets", "_child", "_counts", "_observed", "_sum", "_total")

    def __init__(self, child: Histogram) -> None:
        self._child = child
        bounds: Any = getattr(child, "_upper_bounds", None)
        buckets: Any = getattr(child, "_buckets", None)
        total = getattr(getattr(child, "_sum", None), "inc", None)
        usable = (
            isinstance(bounds, list)
            and isinstance(buckets, list)
            and len(bounds) == len(buckets)
            and callable(total)
            and all(callable(getattr(bucket, "inc", None)) for bucket in buckets)
        )
        self._total: Callable[[float], None] | None = total if usable else None
        self._bounds: list[float] = bounds if usable else []
        self._buckets: list[Callable[[float], None]] = [bucket.inc for bucket in buckets] if usable else []
        self._counts = [0] * len(self._bounds)
        self._sum = 0.0
        self._observed = False

    def add(self, amount: float) -> None:
        if self._total is None:
            self._child.observe(amount)
            return
        self._sum += amount
        self._observed = True
        index = bisect.bisect_left(self._bounds, amount)
        if index < len(self._bounds) and amount <= self._bounds[index]:  # NaN counts in no bucket
            self._counts[index] += 1

    def flush(self) -> None:
        if not self._observed or self._total is None:
            return
        total, self._sum, self._observed = self._sum, 0.0, False
        self._total(total)
        for index, count in enumerate(self._counts):
            if count:
                self._counts[index] = 0
                self._buckets[index](count)


class _Direct:
    """A slot written through on every update (a worker of several)."""

    __slots__ = ("_slot",)

    def __init__(self, slot: _Slot) -> None:
        self._slot = slot

    def add(self, amount: float) -> None:
        self._slot.add(amount)
        self._slot.flush()

    def flush(self) -> None:
        return None


class _Pending(Collector):
    """Adds the slots' updates to their metrics whenever the registry is read; it exports
    nothing itself. Requests and scrapes run on the event loop's thread, one at a time."""

    def __init__(self) -> None:
        self.slots: list[_Slot] = []

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for slot in self.slots:
            slot.flush()
        return iter(())


class _StorageEntries(Collector):
    def __init__(self, sizes: Callable[[], Mapping[str, int]]) -> None:
        self._sizes = sizes

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "mcp_sidecar_storage_entries",
            "Entries the authorization server's store keeps, by kind.",
            labels=["store"],
        )
        for store, count in self._sizes().items():
            family.add_metric([store], count)
        yield family
