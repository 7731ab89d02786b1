# SPDX-License-Identifier: Apache-2.0
"""The sidecar container and its volumes, and the RFC 6902 JSONPatch that adds them to a pod.

Pure: a parsed request and the settings in, a ``Decision`` out. The container is built as the
Helm chart's ``mcp-sidecar.container`` template builds it (tests/charts/test_webhook_chart.py
compares the two for every value set).
"""

from __future__ import annotations

import copy
from typing import Any

from sidecar.webhook.review import AdmissionRequest, Decision, Patch, Pod, parse_pod
from sidecar.webhook.settings import SidecarTemplate, WebhookSettings

INJECT = "mcp-sidecar.io/inject"
CONFIG = "mcp-sidecar.io/config"
CONTAINER = "mcp-sidecar"
CONFIG_VOLUME = "mcp-sidecar-config"
TMP_VOLUME = "mcp-sidecar-tmp"
CONFIG_FILE = "/etc/mcp-sidecar/config.yaml"
TMP = "/tmp"  # noqa: S108 - the container's own emptyDir, not a shared host folder
# SECURITY: the sidecar warns about key files that group or others can read.
SECRET_MODE = 0o400

Json = dict[str, Any]


def _probe(path: str, timings: Json) -> Json:
    return {"httpGet": {"path": path, "port": "http"}, **copy.deepcopy(timings)}


def sidecar_container(template: SidecarTemplate) -> Json:
    """The sidecar container, as the chart renders it."""
    container: Json = {"name": CONTAINER, "image": template.image, "imagePullPolicy": template.pull_policy}
    if template.native:
        # A native sidecar (Kubernetes 1.29+): started before the pod's containers, stopped after.
        container["restartPolicy"] = "Always"
    ports = [{"name": "http", "containerPort": template.port, "protocol": "TCP"}]
    if template.metrics_port is not None:
        ports.append({"name": "metrics", "containerPort": template.metrics_port, "protocol": "TCP"})
    container |= {
        "args": ["serve"],
        "env": [
            {"name": "MCP_SIDECAR_CONFIG", "value": CONFIG_FILE},
            {"name": "TMPDIR", "value": TMP},
            *copy.deepcopy(template.extra_env),
        ],
        "ports": ports,
        # startupProbe asks /health only: a native sidecar must be started before the MCP server
        # is, so it cannot wait for /readyz, which waits for the MCP server.
        "startupProbe": _probe("/health", template.probes["startupProbe"]),
        "livenessProbe": _probe("/health", template.probes["livenessProbe"]),
        "readinessProbe": _probe("/readyz", template.probes["readinessProbe"]),
    }
    if template.resources:
        container["resources"] = copy.deepcopy(template.resources)
    container["securityContext"] = copy.deepcopy(template.security_context)
    container["volumeMounts"] = [
        {"name": CONFIG_VOLUME, "mountPath": CONFIG_FILE, "subPath": "config.yaml", "readOnly": True},
        {"name": TMP_VOLUME, "mountPath": TMP},
        *(
            {"name": mount.volume, "mountPath": f"/etc/mcp-sidecar/secrets/{mount.folder}", "readOnly": True}
            for mount in template.secret_mounts
        ),
    ]
    return container


def sidecar_volumes(template: SidecarTemplate, config_map: str) -> list[Json]:
    """The volumes the container mounts: the ConfigMap's config.yaml, /tmp, the key Secrets."""
    return [
        {"name": CONFIG_VOLUME, "configMap": {"name": config_map}},
        {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": "64Mi"}},
        *(
            {
                "name": mount.volume,
                "secret": {
                    "secretName": mount.secret,
                    "defaultMode": SECRET_MODE,
                    "items": [{"key": key, "path": key} for key in mount.keys],
                },
            }
            for mount in template.secret_mounts
        ),
    ]


def _add_all(pointer: str, present: bool, items: list[Json], *, first: bool = False) -> list[Patch]:
    """JSONPatch ops adding ``items`` to the list at ``pointer`` (creating it when absent)."""
    if not present:
        return [{"op": "add", "path": pointer, "value": items}]
    if first:
        return [
            {"op": "add", "path": f"{pointer}/{index}", "value": item} for index, item in enumerate(items)
        ]
    return [{"op": "add", "path": f"{pointer}/-", "value": item} for item in items]


def _patch(pod: Pod, settings: WebhookSettings, config_map: str) -> list[Patch]:
    template = settings.template
    container = sidecar_container(template)
    if template.native:
        # First among the init containers, so the ones after it can already reach the network
        # through the sidecar's ports (as with any native sidecar).
        ops = _add_all("/spec/initContainers", pod.has_init_containers, [container], first=True)
    else:
        ops = _add_all("/spec/containers", True, [container])
    ops += _add_all("/spec/volumes", pod.has_volumes, sidecar_volumes(template, config_map))
    if template.secret_mounts and pod.fs_group is None and template.run_as_group is not None:
        # Secret files belong to root with mode 0400 unless the pod has an fsGroup: the kubelet
        # then gives them that group (and group read), so the sidecar's user can read its keys.
        if pod.has_security_context:
            ops.append({"op": "add", "path": "/spec/securityContext/fsGroup", "value": template.run_as_group})
        else:
            ops.append(
                {"op": "add", "path": "/spec/securityContext", "value": {"fsGroup": template.run_as_group}}
            )
    return ops


def decide(request: AdmissionRequest, settings: WebhookSettings) -> Decision:
    """Allow everything; add the sidecar to a pod being created with ``mcp-sidecar.io/inject:
    "true"`` that does not have it yet. ``ReviewError`` for a pod that is not a pod."""
    if not request.is_pod_creation:
        return Decision()
    pod = parse_pod(request)
    if pod.annotations.get(INJECT) != "true":
        return Decision()
    if CONTAINER in pod.container_names + pod.init_container_names:
        # Idempotent: injected already (a reinvocation, or a pod made from the chart's templates).
        return Decision()
    config_map = pod.annotations.get(CONFIG) or settings.default_config_map
    if not config_map:
        # Denied rather than a sidecar without configuration, which could only crash-loop.
        return Decision(
            allowed=False,
            message=f'{INJECT} is "true" but no ConfigMap is named: annotate the pod with {CONFIG}: '
            "<the ConfigMap holding the sidecar's config.yaml, in the pod's namespace>",
        )
    taken = sorted(
        {CONFIG_VOLUME, TMP_VOLUME, *(m.volume for m in settings.template.secret_mounts)}
        & set(pod.volume_names)
    )
    if taken:
        return Decision(
            allowed=False, message=f"the pod already has volume(s) named {', '.join(taken)}: rename them"
        )
    return Decision(patch=tuple(_patch(pod, settings, config_map)))
