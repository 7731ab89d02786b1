# SPDX-License-Identifier: Apache-2.0
"""The per-request metric updates (kept in plain numbers until a read, with one process) export
what prometheus_client's own ``inc`` and ``observe`` export, at every read."""

from __future__ import annotations

import math
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.observability.metrics import Metrics

_SECONDS = st.floats(min_value=0, max_value=120) | st.sampled_from([0.0005, 0.001, 60.0, 61.0, math.inf])
_REQUESTS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.sampled_from(["GET", "POST", "BREW"]),
        st.sampled_from([200, 404, 502]),
        _SECONDS,
        st.sampled_from(["tools/call", "ping"]),
        st.sampled_from(["ok", "expired"]),
    ),
    max_size=12,
)


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition but the ``_created`` timestamps (they differ)."""
    text = generate_latest(metrics.exposition).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.name.endswith("_created")
    }


def _same(ours: Metrics, reference: Metrics) -> None:
    """Counts equal; sums equal but for the order their float additions were made in."""
    got, want = _samples(ours), _samples(reference)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert math.isclose(got[key], value, rel_tol=1e-12) or got[key] == value, key


def _record(ours: Metrics, reference: Metrics, requests: list[tuple[str, str, int, float, str, str]]) -> None:
    for backend, method, status, seconds, mcp, result in requests:
        ours.count_request(backend, method, status)
        ours.observe_duration(backend, seconds)
        ours.count_validation(result, "cache", seconds)
        ours.count_mcp(backend, mcp)
        ours.count_outgoing("unauthenticated", result)
        reference.requests.labels(backend, Metrics.method_label(method), status).inc()
        reference.request_duration.labels(backend).observe(seconds)
        reference.token_validations.labels(result, "cache").inc()
        reference.token_validation_duration.labels("cache").observe(seconds)
        reference.mcp_requests.labels(backend, mcp).inc()
        reference.outgoing_auth.labels("unauthenticated", result).inc()


@given(_REQUESTS, _REQUESTS)
def test_request_updates_export_as_the_public_calls_do(
    first: list[tuple[str, str, int, float, str, str]], second: list[tuple[str, str, int, float, str, str]]
) -> None:
    """Counts, sums and buckets (an amount on a bound counts in that bucket), at a read, and
    again after more requests (what a read added is not added twice)."""
    ours, reference = Metrics(), Metrics()
    _record(ours, reference, first)
    _same(ours, reference)
    _record(ours, reference, second)
    _same(ours, reference)


def test_a_worker_of_several_writes_each_update_at_once(tmp_path: Path) -> None:
    """With workers, another worker's scrape reads the files: nothing may wait for a read here."""
    metrics = Metrics(multiprocess_dir=str(tmp_path))
    metrics.count_request("a", "POST", 200)
    metrics.observe_duration("a", 0.002)
    requests = metrics.requests.labels("a", "POST", 200)
    duration = metrics.request_duration.labels("a")
    assert requests._value.get() == 1
    assert duration._sum.get() == 0.002
