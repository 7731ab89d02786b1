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
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import GaugeMetricFamily
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
        self._request_children: dict[tuple[str, str, int], Callable[[float], None]] = {}
        self._duration_children: dict[str, _Observer] = {}
        self._mcp_children: dict[tuple[str, str], Callable[[float], None]] = {}
        self._outgoing_children: dict[tuple[str, str], Callable[[float], None]] = {}
        self._validation_children: dict[tuple[str, str], Callable[[float], None]] = {}
        self._validation_timers: dict[str, _Observer] = {}
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

    # Label children are cached: prometheus_client's labels() takes a lock and builds a tuple
    # on every call, and these run on every request. The label values are bounded, so are these.
    # What is cached is the child's increment itself (see _increment and _Observer).
    def count_request(self, backend: str, method: str, status: int) -> None:
        key = (backend, method, status)
        inc = self._request_children.get(key)
        if inc is None:
            child = self.requests.labels(backend, self.method_label(method), status)
            inc = self._request_children[key] = _increment(child)
        inc(1)

    def observe_duration(self, backend: str, seconds: float) -> None:
        observer = self._duration_children.get(backend)
        if observer is None:
            observer = self._duration_children[backend] = _Observer(self.request_duration.labels(backend))
        observer.observe(seconds)

    def count_validation(self, result: str, source: str, seconds: float) -> None:
        key = (result, source)
        inc = self._validation_children.get(key)
        if inc is None:
            inc = self._validation_children[key] = _increment(self.token_validations.labels(result, source))
        inc(1)
        timer = self._validation_timers.get(source)
        if timer is None:
            timer = self._validation_timers[source] = _Observer(self.token_validation_duration.labels(source))
        timer.observe(seconds)

    def count_mcp(self, backend: str, method: str) -> None:
        key = (backend, method)
        inc = self._mcp_children.get(key)
        if inc is None:
            inc = self._mcp_children[key] = _increment(self.mcp_requests.labels(backend, method))
        inc(1)

    def count_outgoing(self, strategy: str, result: str) -> None:
        key = (strategy, result)
        inc = self._outgoing_children.get(key)
        if inc is None:
            inc = self._outgoing_children[key] = _increment(self.outgoing_auth.labels(strategy, result))
        inc(1)


def _increment(child: Counter) -> Callable[[float], None]:
    """What ``child.inc(amount)`` comes down to once its checks passed (a child made by
    ``labels()`` is observable; the amounts here are never negative): the locked increment of
    its value, the same call in single-process and multiprocess mode. ``child.inc`` itself
    should a prometheus_client version keep its value elsewhere."""
    inc = getattr(getattr(child, "_value", None), "inc", None)
    return inc if callable(inc) else child.inc


class _Observer:
    """``Histogram.observe`` of one child without its per-call check and bucket loop: the sum and
    the first bucket whose bound holds the amount (found by bisection) are incremented, as
    prometheus_client does; its own ``observe`` should its internals not be where expected."""

    __slots__ = ("_bounds", "_buckets", "_child", "_sum")

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
        )
        self._sum: Callable[[float], None] | None = total if usable else None
        self._bounds: list[float] = bounds if usable else []
        self._buckets: list[Callable[[float], None]] = [bucket.inc for bucket in buckets] if usable else []

    def observe(self, amount: float) -> None:
        if self._sum is None:
            self._child.observe(amount)
            return
        self._sum(amount)
        index = bisect.bisect_left(self._bounds, amount)
        if index < len(self._bounds) and amount <= self._bounds[index]:  # NaN counts in no bucket
            self._buckets[index](1)


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
