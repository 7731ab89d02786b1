# SPDX-License-Identifier: Apache-2.0
"""The ``telemetry.tracing`` section: its defaults, and every refusal named by key path."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from sidecar.config import ConfigError, load_config_data

BACKEND = {"name": "a", "url": "http://127.0.0.1:3001/mcp", "path": "/mcp"}


def _load(tracing: dict[str, Any]) -> Any:
    return load_config_data({"backends": [BACKEND], "telemetry": {"tracing": tracing}})


def test_tracing_is_off_by_default() -> None:
    """No telemetry section: tracing off, the documented defaults."""
    tracing = load_config_data({"backends": [BACKEND]}).telemetry.tracing
    assert (tracing.enabled, tracing.endpoint, tracing.sampling_ratio, tracing.service_name) == (
        False,
        None,
        1.0,
        "mcp-sidecar",
    )


def test_an_integer_ratio_is_a_number() -> None:
    """YAML's ``sampling_ratio: 1`` (an int) is accepted as 1.0."""
    assert _load({"sampling_ratio": 1}).telemetry.tracing.sampling_ratio == 1.0


@pytest.mark.parametrize(
    ("tracing", "message"),
    [
        ({"enabled": True}, "telemetry.tracing.endpoint: is required when tracing is enabled"),
        ({"endpoint": "otel-collector:4318"}, "telemetry.tracing.endpoint: must be an http(s) URL"),
        ({"endpoint": "grpc://collector:4317"}, "telemetry.tracing.endpoint: must be an http(s) URL"),
        ({"sampling_ratio": 1.5}, "telemetry.tracing.sampling_ratio: must be between 0.0 and 1.0"),
        ({"sampling_ratio": -0.1}, "telemetry.tracing.sampling_ratio: must be between 0.0 and 1.0"),
        ({"sampling_ratio": "half"}, "telemetry.tracing.sampling_ratio: must be a number"),
        ({"service_name": " "}, "telemetry.tracing.service_name: must not be empty"),
        ({"headers": {}}, "telemetry.tracing.headers"),
    ],
)
def test_refusals_name_the_key(tracing: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tracing)
    assert message in str(caught.value)


def test_enabled_without_the_tracing_extra_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the OpenTelemetry packages (blocked here as Python blocks a missing module),
    enabling tracing is a configuration error naming the extra, not a traceback at start-up."""
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http", None)
    with pytest.raises(ConfigError) as caught:
        _load({"enabled": True, "endpoint": "http://collector:4318/v1/traces"})
    assert "telemetry.tracing.enabled: needs the OpenTelemetry SDK" in str(caught.value)
    assert "mcp-auth-sidecar[tracing]" in str(caught.value)
