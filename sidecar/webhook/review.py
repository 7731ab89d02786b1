# SPDX-License-Identifier: Apache-2.0
"""``admission.k8s.io/v1`` AdmissionReview: the request, parsed from untrusted bytes, and the
response. No I/O.

ReviewError     the body is not an AdmissionReview v1 (or its pod is not a pod); the message names
                the field, never its value (a pod's env may hold a secret)
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

API_VERSION = "admission.k8s.io/v1"


class ReviewError(ValueError):
    """A malformed AdmissionReview: answered with 400, never 500."""


@dataclass(frozen=True, slots=True)
class AdmissionRequest:
    """The parts of ``request`` the webhook decides on."""

    uid: str
    operation: str
    # (group, version, resource) of the object, e.g. ("", "v1", "pods").
    resource: tuple[str, str, str]
    namespace: str
    # The object as sent; only parsed further (``parse_pod``) for a pod being created.
    object: Mapping[str, Any] | None

    @property
    def is_pod_creation(self) -> bool:
        return self.operation == "CREATE" and self.resource == ("", "v1", "pods")


@dataclass(frozen=True, slots=True)
class Pod:
    """What injection needs to know of a pod: checked shapes, so a patch never meets a surprise."""

    name: str
    annotations: Mapping[str, str]
    container_names: tuple[str, ...]
    init_container_names: tuple[str, ...]
    volume_names: tuple[str, ...]
    has_init_containers: bool
    has_volumes: bool
    has_security_context: bool
    fs_group: int | None
    labels: Mapping[str, str] = field(default_factory=dict)


class Patch(TypedDict):
    op: str
    path: str
    value: Any


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one request: allowed (with a JSONPatch or none) or denied with a message."""

    allowed: bool = True
    patch: tuple[Patch, ...] = ()
    message: str = ""


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ReviewError(f"{path}: must be a JSON object")
    return value


def _string(value: object, path: str, *, empty: bool = True) -> str:
    if not isinstance(value, str) or (not empty and not value):
        raise ReviewError(f"{path}: must be a {'' if empty else 'non-empty '}string")
    return value


def parse_review(body: bytes) -> AdmissionRequest:
    """The request of an ``admission.k8s.io/v1`` AdmissionReview, or ``ReviewError``."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise ReviewError("the body is not JSON") from None
    review = _object(document, "(body)")
    if review.get("apiVersion") != API_VERSION:
        # The MutatingWebhookConfiguration asks for v1 only (admissionReviewVersions: [v1]).
        raise ReviewError(f"apiVersion: must be {API_VERSION}")
    if review.get("kind") != "AdmissionReview":
        raise ReviewError("kind: must be AdmissionReview")
    request = _object(review.get("request"), "request")
    resource = _object(request.get("resource"), "request.resource")
    obj = request.get("object")
    return AdmissionRequest(
        uid=_string(request.get("uid"), "request.uid", empty=False),
        operation=_string(request.get("operation"), "request.operation"),
        resource=(
            _string(resource.get("group"), "request.resource.group"),
            _string(resource.get("version"), "request.resource.version"),
            _string(resource.get("resource"), "request.resource.resource"),
        ),
        namespace=_string(request.get("namespace", ""), "request.namespace"),
        object=None if obj is None else _object(obj, "request.object"),
    )


def _names(items: object, path: str) -> tuple[str, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ReviewError(f"{path}: must be a list")
    return tuple(
        _string(_object(item, f"{path}[{index}]").get("name"), f"{path}[{index}].name")
        for index, item in enumerate(items)
    )


def _string_map(value: object, path: str) -> dict[str, str]:
    if value is None:
        return {}
    mapping = _object(value, path)
    # The key is not quoted: the message stays short and free of whatever the request holds.
    if not all(isinstance(item, str) for item in mapping.values()):
        raise ReviewError(f"{path}: every value must be a string")
    return dict(mapping)


def parse_pod(request: AdmissionRequest) -> Pod:
    """The pod of a pod creation request, or ``ReviewError``."""
    pod = _object(request.object, "request.object")
    metadata = _object(pod.get("metadata", {}), "request.object.metadata")
    spec = _object(pod.get("spec"), "request.object.spec")
    security = spec.get("securityContext")
    fs_group = None if security is None else _object(security, "request.object.spec.securityContext")
    group = None if fs_group is None else fs_group.get("fsGroup")
    if group is not None and (isinstance(group, bool) or not isinstance(group, int)):
        raise ReviewError("request.object.spec.securityContext.fsGroup: must be an integer")
    return Pod(
        # Pods of a Deployment have only generateName at admission.
        name=_string(
            metadata.get("name") or metadata.get("generateName") or "", "request.object.metadata.name"
        ),
        annotations=_string_map(metadata.get("annotations"), "request.object.metadata.annotations"),
        labels=_string_map(metadata.get("labels"), "request.object.metadata.labels"),
        container_names=_names(spec.get("containers"), "request.object.spec.containers"),
        init_container_names=_names(spec.get("initContainers"), "request.object.spec.initContainers"),
        volume_names=_names(spec.get("volumes"), "request.object.spec.volumes"),
        has_init_containers=bool(spec.get("initContainers")),
        has_volumes=bool(spec.get("volumes")),
        has_security_context=security is not None,
        fs_group=group,
    )


def render_response(uid: str, decision: Decision) -> dict[str, Any]:
    """The AdmissionReview the API server expects back, the patch base64-encoded."""
    response: dict[str, Any] = {"uid": uid, "allowed": decision.allowed}
    if decision.patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(list(decision.patch)).encode()).decode()
    if decision.message:
        response["status"] = {"code": 403, "message": decision.message}
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}
