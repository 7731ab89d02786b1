# SPDX-License-Identifier: Apache-2.0
"""The injection rule, without a server: which pods get the sidecar, and what the patched pod is."""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest

from sidecar.webhook.injection import decide
from sidecar.webhook.review import parse_review, render_response
from sidecar.webhook.settings import WebhookSettings, parse_settings
from tests.charts.rendering import KUBERNETES, OLDEST_KUBERNETES
from tests.webhook.reviews import (
    IMAGE,
    INJECT,
    SETTINGS,
    SETTINGS_WITH_SECRETS,
    Object,
    patch_of,
    patched,
    pod,
    review,
    sidecar_of,
)


def answer(obj: Object | None, settings: WebhookSettings = SETTINGS, **kwargs: Any) -> Object:
    """The webhook's AdmissionReview response to a review of ``obj``."""
    request = parse_review(json.dumps(review(obj, **kwargs)).encode())
    return render_response(request.uid, decide(request, settings))


@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, KUBERNETES])
def test_annotated_pod_gets_a_valid_native_sidecar_with_probes(version: str) -> None:
    """The patched pod is valid Kubernetes (strict), and its sidecar is an init container with
    restartPolicy Always, probed on /health and /readyz, hardened, with its config and /tmp."""
    obj = patched(pod(INJECT), answer(pod(INJECT)))
    kubernetes_validate.validate(obj, version, strict=True)
    (sidecar,) = obj["spec"]["initContainers"]
    assert sidecar["name"] == "mcp-sidecar"
    assert sidecar["image"] == "ghcr.io/example/mcp-auth-sidecar:0.1.0"
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert sidecar["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert sidecar["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert [port["containerPort"] for port in sidecar["ports"]] == [8080, 9464]
    context = sidecar["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    volumes = {volume["name"]: volume for volume in obj["spec"]["volumes"]}
    assert volumes["mcp-sidecar-config"] == {
        "name": "mcp-sidecar-config",
        "configMap": {"name": "tools-sidecar"},
    }
    assert "emptyDir" in volumes["mcp-sidecar-tmp"]
    assert [c["name"] for c in obj["spec"]["containers"]] == ["tools"]


def test_sidecar_goes_first_among_existing_init_containers_and_volumes_are_kept() -> None:
    """With init containers and volumes already there, the sidecar is added first and nothing of
    the pod's own is lost."""
    original = pod(
        INJECT,
        initContainers=[{"name": "migrate", "image": "ghcr.io/example/tools:1.0"}],
        volumes=[{"name": "data", "emptyDir": {}}],
    )
    obj = patched(original, answer(original))
    kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    assert [c["name"] for c in obj["spec"]["initContainers"]] == ["mcp-sidecar", "migrate"]
    assert [v["name"] for v in obj["spec"]["volumes"]] == ["data", "mcp-sidecar-config", "mcp-sidecar-tmp"]


@pytest.mark.parametrize(
    "annotations",
    [
        None,
        {},
        {"mcp-sidecar.io/config": "tools-sidecar"},
        {"mcp-sidecar.io/inject": "false", "mcp-sidecar.io/config": "tools-sidecar"},
        {"mcp-sidecar.io/inject": "yes", "mcp-sidecar.io/config": "tools-sidecar"},
        {"mcp-sidecar.io/inject": "True", "mcp-sidecar.io/config": "tools-sidecar"},
    ],
)
def test_pod_without_the_annotation_is_never_touched(annotations: dict[str, str] | None) -> None:
    """Only the exact value "true" injects; any other pod is allowed as it is."""
    response = answer(pod(annotations))["response"]
    assert response == {"uid": "705ab4f5-6393-11e8-b7cc-42010a800002", "allowed": True}


def test_already_injected_pod_is_not_patched_again() -> None:
    """Idempotent: a pod that has the sidecar (a reinvocation, or the chart's own pod) is allowed
    without a patch."""
    once = patched(pod(INJECT), answer(pod(INJECT)))
    response = answer(once)["response"]
    assert response["allowed"] is True
    assert patch_of(answer(once)) == []


@pytest.mark.parametrize(("operation", "resource"), [("UPDATE", "pods"), ("CREATE", "deployments")])
def test_other_operations_and_resources_pass_unchanged(operation: str, resource: str) -> None:
    """Only pod creation is mutated."""
    response = answer(pod(INJECT), operation=operation, resource=resource)["response"]
    assert response["allowed"] is True
    assert "patch" not in response


def test_config_map_defaults_to_the_settings_and_the_annotation_wins() -> None:
    """Without mcp-sidecar.io/config the configured ConfigMap is used; the annotation overrides it."""
    settings = parse_settings({"sidecar": {"image": IMAGE}, "configMap": "shared-sidecar"})
    only_inject = {"mcp-sidecar.io/inject": "true"}
    for given, expected in ((only_inject, "shared-sidecar"), (INJECT, "tools-sidecar")):
        obj = patched(pod(given), answer(pod(given), settings))
        (volume,) = [v for v in obj["spec"]["volumes"] if v["name"] == "mcp-sidecar-config"]
        assert volume["configMap"]["name"] == expected


def test_pod_naming_no_config_map_is_denied_with_the_fix() -> None:
    """A sidecar without configuration could only crash-loop: the pod is denied, and the message
    names the annotation to add."""
    response = answer(pod({"mcp-sidecar.io/inject": "true"}))["response"]
    assert response["allowed"] is False
    assert "mcp-sidecar.io/config" in response["status"]["message"]
    assert "patch" not in response


def test_volume_name_clash_is_denied() -> None:
    """A pod volume already named like one of the sidecar's is refused rather than overwritten."""
    response = answer(pod(INJECT, volumes=[{"name": "mcp-sidecar-tmp", "emptyDir": {}}]))["response"]
    assert response["allowed"] is False
    assert "mcp-sidecar-tmp" in response["status"]["message"]


def test_key_secrets_are_mounted_read_only_and_the_pod_gets_an_fs_group() -> None:
    """Configured Secrets become 0400 volumes mounted read-only, and a pod without an fsGroup
    gets the sidecar's group, so its user can read them; a pod's own fsGroup is kept."""
    obj = patched(pod(INJECT), answer(pod(INJECT), SETTINGS_WITH_SECRETS))
    kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    volumes = {volume["name"]: volume for volume in obj["spec"]["volumes"]}
    signing = volumes["mcp-sidecar-signing-keys"]["secret"]
    assert signing["secretName"] == "mcp-signing-keys"
    assert signing["defaultMode"] == 0o400
    assert [item["key"] for item in signing["items"]] == ["current.pem", "previous.pem"]
    mounts = {mount["name"]: mount for mount in sidecar_of(obj)["volumeMounts"]}
    assert mounts["mcp-sidecar-hmac-secrets"] == {
        "name": "mcp-sidecar-hmac-secrets",
        "mountPath": "/etc/mcp-sidecar/secrets/hmac",
        "readOnly": True,
    }
    assert obj["spec"]["securityContext"] == {"fsGroup": 10001}
    own = pod(INJECT, securityContext={"fsGroup": 2000, "runAsNonRoot": True})
    assert patched(own, answer(own, SETTINGS_WITH_SECRETS))["spec"]["securityContext"]["fsGroup"] == 2000
    bare = pod(INJECT, securityContext={"runAsNonRoot": True})
    assert patched(bare, answer(bare, SETTINGS_WITH_SECRETS))["spec"]["securityContext"] == {
        "runAsNonRoot": True,
        "fsGroup": 10001,
    }


def test_plain_container_mode_appends_a_second_container() -> None:
    """With sidecar.native false the sidecar is an ordinary container after the pod's own."""
    settings = parse_settings({"sidecar": {"image": IMAGE, "native": False}})
    obj = patched(pod(INJECT), answer(pod(INJECT), settings))
    kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    assert "initContainers" not in obj["spec"]
    assert [c["name"] for c in obj["spec"]["containers"]] == ["tools", "mcp-sidecar"]
    assert "restartPolicy" not in obj["spec"]["containers"][1]
