# SPDX-License-Identifier: Apache-2.0
"""The Helm chart, rendered by Helm's own code for each way it is meant to be installed: every
object is valid Kubernetes, every sidecar config passes the real `check-config`, and the pod is
wired and hardened as docs/kubernetes.md says."""

from __future__ import annotations

import copy
from pathlib import Path, PurePosixPath
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest

from sidecar.config.values import parse_duration
from tests.charts.rendering import (
    CHART,
    KUBERNETES,
    OLDEST_KUBERNETES,
    Rendered,
    check_config,
    lay_out_pod_files,
    render,
)
from tests.charts.value_sets import VALUE_SETS

# Custom resources: their schemas are not part of Kubernetes' own.
CUSTOM_KINDS = {"ServiceMonitor"}

SETS = sorted(VALUE_SETS)


@pytest.fixture(scope="module", params=SETS)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return render(VALUE_SETS[request.param])


def _set(name: str) -> Rendered:
    return render(VALUE_SETS[name])


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, KUBERNETES])
def test_every_rendered_object_is_valid_kubernetes(rendered: Rendered, version: str) -> None:
    """Each object validates against the OpenAPI schema of a recent Kubernetes and of the oldest
    the chart allows (strict: no unknown fields)."""
    for obj in rendered.objects:
        if obj["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(obj, version, strict=True)


def test_rendered_config_passes_the_real_check_config(rendered: Rendered, tmp_path: Path) -> None:
    """The ConfigMap's config.yaml, with the files of the mounted Secrets where and as the pod sees
    them, is accepted by `mcp-sidecar check-config`, without warnings: the key files are readable
    by the pod's own fsGroup only (docs/kubernetes.md, "File modes")."""
    config = lay_out_pod_files(rendered, tmp_path)
    result = check_config(config)
    assert result.returncode == 0, result.stderr
    mode = "mode B" if "auth_server" in rendered.sidecar_config else "mode A"
    assert result.stdout.startswith(f"configuration OK: {mode}"), result.stdout
    assert "warning:" not in result.stderr, result.stderr


def test_backend_is_the_mcp_container_on_loopback(rendered: Rendered) -> None:
    """The sidecar forwards to the MCP container's port on 127.0.0.1."""
    (mcp,) = rendered.pod["spec"]["containers"][:1]
    port = mcp["ports"][0]["containerPort"]
    (backend,) = rendered.sidecar_config["backends"]
    assert backend["url"].startswith(f"http://127.0.0.1:{port}/")


def test_service_targets_only_the_sidecar(rendered: Rendered) -> None:
    """The Service's ports lead to the sidecar's ports, never to the MCP server's."""
    sidecar_ports = {port["containerPort"] for port in rendered.sidecar["ports"]}
    targets = {port["targetPort"] for port in rendered.one("Service")["spec"]["ports"]}
    assert targets
    assert targets <= sidecar_ports


def test_sidecar_runs_hardened(rendered: Rendered) -> None:
    """Non-root numeric user, no privilege escalation, read-only root, no capabilities,
    RuntimeDefault seccomp, and a writable /tmp that TMPDIR names."""
    context = rendered.sidecar["securityContext"]
    assert context["runAsNonRoot"] is True
    assert isinstance(context["runAsUser"], int)
    assert context["runAsUser"] > 0
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    volumes = {volume["name"]: volume for volume in rendered.pod["spec"]["volumes"]}
    # The container's own /tmp, an emptyDir: not a shared host folder.
    tmp = "/tmp"  # noqa: S108
    (mount,) = [mount for mount in rendered.sidecar["volumeMounts"] if mount["mountPath"] == tmp]
    assert "emptyDir" in volumes[mount["name"]]
    assert {"name": "TMPDIR", "value": tmp} in rendered.sidecar["env"]


def test_probes_ask_health_and_readyz(rendered: Rendered) -> None:
    """Liveness and startup on /health, readiness on /readyz."""
    sidecar = rendered.sidecar
    assert sidecar["livenessProbe"]["httpGet"]["path"] == "/health"
    assert sidecar["startupProbe"]["httpGet"]["path"] == "/health"
    assert sidecar["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_grace_period_outlasts_shutdown_delay_and_drain(rendered: Rendered) -> None:
    """The kubelet waits longer than the sidecar's shutdown delay plus its drain timeout."""
    server = rendered.sidecar_config["server"]
    needed = parse_duration(server["drain_timeout"]) + parse_duration(server["shutdown_delay"])
    assert rendered.pod["spec"]["terminationGracePeriodSeconds"] > needed


def test_key_secrets_are_read_only_files_with_mode_0400(rendered: Rendered) -> None:
    """Every Secret volume has defaultMode 0400 and is mounted read-only, and the config names
    its files."""
    volumes = {volume["name"]: volume for volume in rendered.pod["spec"]["volumes"]}
    text = rendered.config_text
    for mount in rendered.sidecar["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        assert secret["defaultMode"] == 0o400
        assert mount["readOnly"] is True
        folder = PurePosixPath(mount["mountPath"]).relative_to("/etc/mcp-sidecar")
        for item in secret["items"]:
            assert f"{folder}/{item['path']}" in text


def test_prometheus_scrape_annotations_name_the_metrics_port(rendered: Rendered) -> None:
    """The pod's prometheus.io annotations point at the port /metrics is served on."""
    annotations = rendered.pod["metadata"]["annotations"]
    port = rendered.sidecar_config["server"].get("metrics_port", rendered.sidecar_config["server"]["port"])
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_default_sidecar_is_a_native_sidecar() -> None:
    """By default the sidecar is an init container with restartPolicy Always (Kubernetes 1.29+)."""
    spec = _set("default").pod["spec"]
    (init,) = spec["initContainers"]
    assert init["name"] == "mcp-sidecar"
    assert init["restartPolicy"] == "Always"
    assert [container["name"] for container in spec["containers"]] == ["mcp-server"]


def test_plain_container_mode_puts_the_sidecar_beside_the_mcp_server() -> None:
    """With sidecar.native false the sidecar is a second ordinary container."""
    spec = _set("plain_container").pod["spec"]
    assert "initContainers" not in spec
    names = [container["name"] for container in spec["containers"]]
    assert names == ["mcp-server", "mcp-sidecar"]
    assert "restartPolicy" not in spec["containers"][1]


def test_config_change_rolls_the_pods() -> None:
    """A change of the sidecar config changes the pod template's checksum/config annotation."""
    values = copy.deepcopy(VALUE_SETS["default"])
    before = render(values).pod["metadata"]["annotations"]["checksum/config"]
    values["config"] = {"server": {"log_level": "debug"}}
    after = render(values).pod["metadata"]["annotations"]["checksum/config"]
    assert before != after


def test_network_policy_leaves_the_mcp_port_closed() -> None:
    """The NetworkPolicy admits traffic to the sidecar's ports only."""
    rendered = _set("mode_a_anonymous")
    policy = rendered.one("NetworkPolicy")["spec"]
    allowed = {port["port"] for rule in policy["ingress"] for port in rule["ports"]}
    assert allowed == {port["containerPort"] for port in rendered.sidecar["ports"]}
    assert 3000 not in allowed


def test_redis_storage_allows_an_autoscaler() -> None:
    """Mode B on Redis renders a HorizontalPodAutoscaler for the Deployment, which then has no
    fixed replica count."""
    rendered = _set("mode_b_redis_hpa")
    hpa = rendered.one("HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"]["name"] == rendered.one("Deployment")["metadata"]["name"]
    assert "replicas" not in rendered.one("Deployment")["spec"]


def test_service_monitor_scrapes_the_metrics_path() -> None:
    """The optional ServiceMonitor scrapes /metrics on a port of the Service."""
    rendered = _set("mode_a_anonymous")
    (endpoint,) = rendered.one("ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in rendered.one("Service")["spec"]["ports"]}


def test_extra_objects_are_templated() -> None:
    """extraObjects entries are rendered with the release's context."""
    names = {obj["metadata"]["name"] for obj in _set("mode_a_anonymous").all("ConfigMap")}
    assert "demo-extra" in names


@pytest.mark.parametrize(
    ("name", "url"),
    [
        ("default", "http://127.0.0.1:8080/mcp"),
        ("mode_a_oidc", "https://mcp.example.com/mcp"),
    ],
)
def test_notes_print_the_mcp_url(name: str, url: str) -> None:
    """NOTES.txt names the URL to give an MCP client, and how to reach it."""
    notes = _set(name).notes
    assert f"MCP URL: {url}" in notes
    assert "examples/mcp_client.py" in notes


def test_lint_finds_nothing_to_warn_about() -> None:
    """`helm lint --strict` finds no warning and no error with the default values."""
    report: dict[str, Any] = helm.lint(
        CHART, VALUE_SETS["default"], strict=True, kube_version=f"v{KUBERNETES}.0"
    )
    assert report["errors"] == []
    assert [message for message in report["messages"] if message["severity"] >= 2] == []
