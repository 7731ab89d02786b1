# SPDX-License-Identifier: Apache-2.0
"""AdmissionReview v1 requests as the API server sends them, and the pod a response makes."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import jsonpatch

from sidecar.webhook.settings import WebhookSettings, parse_settings

Object = dict[str, Any]

IMAGE = {"repository": "ghcr.io/example/mcp-auth-sidecar", "tag": "0.1.0"}
SETTINGS: WebhookSettings = parse_settings({"sidecar": {"image": IMAGE}})
SETTINGS_WITH_SECRETS: WebhookSettings = parse_settings(
    {
        "sidecar": {"image": IMAGE},
        "secrets": {
            "signingKeys": {"existingSecret": "mcp-signing-keys", "fallbackKeys": ["previous.pem"]},
            "hmacSecrets": {"existingSecret": "mcp-hmac"},
        },
    }
)
INJECT = {"mcp-sidecar.io/inject": "true", "mcp-sidecar.io/config": "tools-sidecar"}


def pod(annotations: dict[str, str] | None = None, **spec: Any) -> Object:
    """A pod of a Deployment at admission: generateName, no name, an MCP server container."""
    metadata: Object = {"generateName": "tools-7d9f-", "namespace": "team", "labels": {"app": "tools"}}
    if annotations is not None:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "containers": [
                {
                    "name": "tools",
                    "image": "ghcr.io/example/tools:1.0",
                    "env": [{"name": "API_KEY", "value": "s3cr3t-value-never-logged"}],
                    "ports": [{"containerPort": 3001}],
                }
            ],
            **spec,
        },
    }


def review(obj: Object | None, *, operation: str = "CREATE", resource: str = "pods", uid: str = "") -> Object:
    """An admission.k8s.io/v1 AdmissionReview of ``obj``."""
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid or "705ab4f5-6393-11e8-b7cc-42010a800002",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": resource},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": resource},
            "namespace": "team",
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": obj,
            "oldObject": None,
            "dryRun": False,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


def patch_of(answer: Object) -> list[Object]:
    """The JSONPatch of an AdmissionReview response, decoded (empty when there is none)."""
    response = answer["response"]
    if "patch" not in response:
        return []
    assert response["patchType"] == "JSONPatch"
    ops: list[Object] = json.loads(base64.b64decode(response["patch"], validate=True))
    return ops


def patched(obj: Object, answer: Object) -> Object:
    """``obj`` with the response's JSONPatch applied by a real RFC 6902 implementation."""
    result: Object = jsonpatch.apply_patch(copy.deepcopy(obj), patch_of(answer))
    return result


def sidecar_of(obj: Object) -> Object:
    """The pod's sidecar container, wherever it is."""
    found: Object
    (found,) = [
        c
        for c in [*obj["spec"].get("initContainers", []), *obj["spec"]["containers"]]
        if c["name"] == "mcp-sidecar"
    ]
    return found
