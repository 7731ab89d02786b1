# SPDX-License-Identifier: Apache-2.0
"""The chart with webhook.enabled: the injection webhook's objects, and the sidecar it injects,
which must be the very container (and volumes) the chart renders into its own pod."""

from __future__ import annotations

import copy
from typing import Any

import helm_python as helm
import pytest
import yaml

from sidecar.webhook.injection import CONFIG_VOLUME, sidecar_container, sidecar_volumes
from sidecar.webhook.settings import WebhookSettings, parse_settings
from tests.charts.rendering import CHART, KUBERNETES, NAMESPACE, Object, Rendered, render
from tests.charts.value_sets import VALUE_SETS

WEBHOOK_ON = copy.deepcopy(VALUE_SETS["webhook"]["webhook"])


def _with_webhook(name: str, **webhook: Any) -> dict[str, Any]:
    values = copy.deepcopy(VALUE_SETS[name])
    values["webhook"] = {**WEBHOOK_ON, **webhook}
    return values


def _settings(rendered: Rendered) -> WebhookSettings:
    """The webhook's settings, parsed from the ConfigMap the chart gives it."""
    text = rendered.webhook("ConfigMap")["data"]["webhook.yaml"]
    return parse_settings(yaml.safe_load(text))


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    return render(VALUE_SETS["webhook"])


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_injected_sidecar_is_the_container_the_chart_renders(name: str) -> None:
    """For every value set, the webhook configured by the chart injects exactly the chart's own
    sidecar container and the volumes it mounts (the config from the annotation's ConfigMap)."""
    rendered = render(_with_webhook(name))
    template = _settings(rendered).template
    assert sidecar_container(template) == rendered.sidecar
    mounted = {mount["name"] for mount in rendered.sidecar["volumeMounts"]}
    chart_volumes = [volume for volume in rendered.pod["spec"]["volumes"] if volume["name"] in mounted]
    (config,) = [volume for volume in chart_volumes if volume["name"] == CONFIG_VOLUME]
    assert sidecar_volumes(template, config["configMap"]["name"]) == chart_volumes


def test_webhook_configuration_follows_the_admission_rules(rendered: Rendered) -> None:
    """v1 reviews only, no side effects, failurePolicy from the values, pod creation only, sent to
    the webhook Service's /mutate with the CA from the values."""
    configuration = rendered.webhook("MutatingWebhookConfiguration")
    (hook,) = configuration["webhooks"]
    assert hook["admissionReviewVersions"] == ["v1"]
    assert hook["sideEffects"] == "None"
    assert hook["failurePolicy"] == "Ignore"
    assert hook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]
    assert hook["namespaceSelector"] == {"matchLabels": {"mcp-sidecar.io/injection": "enabled"}}
    service = rendered.webhook("Service")
    assert hook["clientConfig"]["service"] == {
        "namespace": NAMESPACE,
        "name": service["metadata"]["name"],
        "path": "/mutate",
        "port": service["spec"]["ports"][0]["port"],
    }
    assert hook["clientConfig"]["caBundle"] == WEBHOOK_ON["caBundle"]
    assert "annotations" not in configuration["metadata"]


def test_webhook_pod_serves_https_with_the_tls_secret(rendered: Rendered) -> None:
    """The Deployment runs `inject-webhook` with its config and the TLS Secret's files, on the
    port the Service targets, probed on /health over HTTPS."""
    deployment = rendered.webhook("Deployment")
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    args = container["args"]
    assert args[0] == "inject-webhook"
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert f"--config={mounts['config']}" in args
    assert f"--tls-cert-file={mounts['tls']}/tls.crt" in args
    assert f"--tls-key-file={mounts['tls']}/tls.key" in args
    volumes = {volume["name"]: volume for volume in spec["volumes"]}
    assert volumes["tls"]["secret"]["secretName"] == WEBHOOK_ON["tls"]["existingSecret"]
    assert volumes["tls"]["secret"]["defaultMode"] == 0o400
    assert volumes["config"]["configMap"]["name"] == rendered.webhook("ConfigMap")["metadata"]["name"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "https", "scheme": "HTTPS"}
    assert rendered.webhook("Service")["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    assert spec["automountServiceAccountToken"] is False


def test_webhook_pods_are_drained_one_at_a_time(rendered: Rendered) -> None:
    """Two webhook replicas by default, and a PodDisruptionBudget that keeps one of them up."""
    deployment = rendered.webhook("Deployment")
    budget = rendered.webhook("PodDisruptionBudget")["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert budget == {"maxUnavailable": 1, "selector": deployment["spec"]["selector"]}


def test_webhook_pods_are_not_the_apps(rendered: Rendered) -> None:
    """Neither the app's Service nor its Deployment selects the webhook's pods (and the reverse)."""
    webhook_labels: Object = rendered.webhook("Deployment")["spec"]["template"]["metadata"]["labels"]
    app_labels: Object = rendered.pod["metadata"]["labels"]
    for selector in (
        rendered.one("Service")["spec"]["selector"],
        rendered.one("Deployment")["spec"]["selector"]["matchLabels"],
    ):
        assert not selector.items() <= webhook_labels.items()
    assert not rendered.webhook("Service")["spec"]["selector"].items() <= app_labels.items()


def test_cert_manager_injects_the_ca_instead_of_a_value() -> None:
    """With webhook.certManager.injectCAFrom the configuration carries cert-manager's annotation
    and no caBundle of its own."""
    values = _with_webhook("default", caBundle="", certManager={"injectCAFrom": "mcp/mcp-sidecar-webhook"})
    configuration = render(values).webhook("MutatingWebhookConfiguration")
    assert configuration["metadata"]["annotations"] == {
        "cert-manager.io/inject-ca-from": "mcp/mcp-sidecar-webhook"
    }
    assert "caBundle" not in configuration["webhooks"][0]["clientConfig"]


def test_webhook_alone_next_to_the_sidecar_config_map() -> None:
    """deployment.enabled false with the webhook: the sidecar's ConfigMap and the webhook, no app
    pod."""
    values = _with_webhook("default", configMap="demo-mcp-sidecar")
    values["deployment"] = {"enabled": False}
    rendered = render(values)
    assert rendered.all("Deployment") == []
    assert _settings(rendered).default_config_map == "demo-mcp-sidecar"
    assert [c["metadata"]["name"] for c in rendered.all("ConfigMap")] == ["demo-mcp-sidecar"]
    assert 'mcp-sidecar.io/inject: "true"' in rendered.notes
    assert "named templates" not in rendered.notes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tls": {"existingSecret": ""}}, "webhook.tls.existingSecret"),
        ({"caBundle": ""}, "webhook.caBundle"),
        ({"failurePolicy": "Sometimes"}, "failurePolicy"),
        ({"caBundle": "not base64!"}, "caBundle"),
    ],
)
def test_webhook_values_are_refused_with_the_value_to_fix(change: dict[str, Any], message: str) -> None:
    """No TLS Secret, no CA, or a failurePolicy Kubernetes does not know: refused at install."""
    with pytest.raises(helm.HelmError, match=message):
        render(_with_webhook("default", **change))


def test_lint_with_the_webhook_finds_nothing_to_warn_about() -> None:
    """`helm lint --strict` with the webhook on finds no warning and no error."""
    report: dict[str, Any] = helm.lint(
        CHART, VALUE_SETS["webhook"], strict=True, kube_version=f"v{KUBERNETES}.0"
    )
    assert report["errors"] == []
    assert [message for message in report["messages"] if message["severity"] >= 2] == []
