# SPDX-License-Identifier: Apache-2.0
"""Values the chart refuses at install time, each with a message that names the value to fix:
values.schema.json for shapes, `fail` in the templates for rules across values."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import pytest

from tests.charts.rendering import render
from tests.charts.value_sets import VALUE_SETS


def _with(base: str, **changes: Any) -> dict[str, Any]:
    """A copy of a value set with top-level sections merged one level deep."""
    values = copy.deepcopy(VALUE_SETS[base])
    for key, change in changes.items():
        values[key] = {**values.get(key, {}), **change} if isinstance(change, dict) else change
    return values


def _mode_b_memory_with(**auth_server: Any) -> dict[str, Any]:
    values = copy.deepcopy(VALUE_SETS["mode_b_memory"])
    values["config"]["auth_server"].update(auth_server)
    return values


def _without_issuer() -> dict[str, Any]:
    values = copy.deepcopy(VALUE_SETS["mode_b_memory"])
    del values["config"]["auth_server"]["issuer"]
    return values


def _without_secret(base: str, name: str) -> dict[str, Any]:
    values = copy.deepcopy(VALUE_SETS[base])
    del values["secrets"][name]
    return values


REFUSED = {
    "negative_port": (_with("default", sidecar={"port": -1}), "at '/sidecar/port': minimum"),
    "port_above_65535": (_with("default", mcpServer={"port": 70000}), "at '/mcpServer/port': maximum"),
    "mode_b_without_issuer": (_without_issuer(), "at '/config/auth_server': missing property 'issuer'"),
    "mode_b_issuer_not_a_url": (_mode_b_memory_with(issuer="mcp.example.com"), "/config/auth_server/issuer"),
    "oidc_without_issuer": (
        _with("default", config={"incoming_auth": {"type": "oidc", "oidc": {}}}),
        "missing property 'issuer'",
    ),
    "hpa_with_memory_storage": (
        _with("mode_b_memory", autoscaling={"enabled": True}),
        "autoscaling.enabled: Mode B keeps clients, codes and tokens in one process with memory storage",
    ),
    "replicas_with_memory_storage": (
        _with("mode_b_memory", replicaCount=2),
        "replicaCount: Mode B with memory storage runs one replica",
    ),
    "replicas_without_shared_signing_keys": (
        _without_secret("mode_b_redis_hpa", "signingKeys"),
        "secrets.signingKeys.existingSecret: several Mode B replicas must sign and verify with the same keys",
    ),
    "replicas_without_shared_hmac_secrets": (
        _without_secret("mode_b_redis_hpa", "hmacSecrets"),
        "secrets.hmacSecrets.existingSecret: several Mode B replicas must sign and verify with the same keys",
    ),
    "hpa_without_cpu_request": (
        _with("mode_a_oidc", autoscaling={"enabled": True}),
        "mcpServer.resources.requests.cpu",
    ),
    "mcp_port_is_the_sidecar_port": (_with("default", mcpServer={"port": 8080}), "mcpServer.port: the MCP"),
    "grace_period_shorter_than_drain": (
        _with("default", terminationGracePeriodSeconds=25),
        "terminationGracePeriodSeconds: must be more than config.server.shutdown_delay + drain_timeout "
        "(25 s)",
    ),
    "no_mcp_image": (_with("default", mcpServer={"image": {"repository": ""}}), "mcpServer.image.repository"),
    "unknown_top_level_key": (_with("default", replicas=2), "additional properties 'replicas' not allowed"),
    "port_set_in_the_config": (
        _with("default", config={"server": {"port": 9000}}),
        "config.server.port: the chart writes it from sidecar.port; set that instead",
    ),
    "signing_key_file_set_in_the_config": (
        _mode_b_memory_with(signing_key_config={"signing_key_file": "/keys/k.pem"}),
        "config.auth_server.signing_key_config: the chart writes it from secrets.signingKeys",
    ),
    "signing_keys_in_mode_a": (
        _with("default", secrets={"signingKeys": {"existingSecret": "keys"}}),
        "secrets.signingKeys.existingSecret: used only by Mode B",
    ),
    "upstream_secret_for_a_static_upstream": (
        _mode_b_memory_with(upstreams=[{"name": "local", "type": "static", "static_config": {"users": []}}]),
        "secrets.upstreamClientSecret: config.auth_server.upstreams[0] must be of type oidc or oauth2",
    ),
}


@pytest.mark.parametrize(("values", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_bad_values_are_refused_with_a_clear_message(values: dict[str, Any], message: str) -> None:
    """Helm refuses the values before anything is sent to the cluster, naming what to change."""
    with pytest.raises(helm.HelmError) as refused:
        render(values)
    assert message in str(refused.value)
