# SPDX-License-Identifier: Apache-2.0
"""The per-request metric updates (cached increments) export what prometheus_client's own
``inc`` and ``observe`` export."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import generate_latest

from sidecar.observability.metrics import Metrics

_SECONDS = st.floats(min_value=0, max_value=120) | st.sampled_from([0.0005, 0.001, 60.0, 61.0, math.inf])


def _exposed(metrics: Metrics) -> list[str]:
    """The exposition without the ``_created`` timestamps (the two registries differ there)."""
    return [
        line for line in generate_latest(metrics.registry).decode().splitlines() if "_created" not in line
    ]


@given(
    st.lists(
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
)
def test_request_updates_export_as_the_public_calls_do(
    requests: list[tuple[str, str, int, float, str, str]],
) -> None:
    """Counts, sums and buckets (bounds included: an amount on a bound counts in that bucket)."""
    ours, reference = Metrics(), Metrics()
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
    assert _exposed(ours) == _exposed(reference)
