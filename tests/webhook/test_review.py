# SPDX-License-Identifier: Apache-2.0
"""The AdmissionReview parser meets untrusted bytes: a malformed review is a ``ReviewError``
naming the field (never a crash, never the field's value), fuzzed with hypothesis."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import jsonpatch
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.webhook.injection import decide
from sidecar.webhook.review import ReviewError, parse_review
from tests.webhook.reviews import INJECT, SETTINGS, SETTINGS_WITH_SECRETS, Object, pod, review


def _broken(change: str) -> bytes:
    """A review of an annotated pod with one part broken."""
    document = review(pod(INJECT))
    request, obj = document["request"], document["request"]["object"]
    breaks: dict[str, Any] = {
        "apiVersion": lambda: document.update(apiVersion="admission.k8s.io/v1beta1"),
        "kind": lambda: document.update(kind="Pod"),
        "request": lambda: document.update(request=[]),
        "request.uid": lambda: request.update(uid=""),
        "request.resource": lambda: request.update(resource="pods"),
        "request.resource.group": lambda: request["resource"].update(group=None),
        "request.operation": lambda: request.update(operation=1),
        "request.object": lambda: request.update(object="a pod"),
        "request.object.spec": lambda: obj.pop("spec"),
        "request.object.metadata": lambda: obj.update(metadata=[]),
        "request.object.metadata.annotations": lambda: obj["metadata"]["annotations"].update(x=1),
        "request.object.spec.containers": lambda: obj["spec"].update(containers={"name": "tools"}),
        "request.object.spec.containers[0]": lambda: obj["spec"].update(containers=["tools"]),
        "request.object.spec.containers[0].name": lambda: obj["spec"]["containers"][0].pop("name"),
        "request.object.spec.volumes": lambda: obj["spec"].update(volumes="data"),
        "request.object.spec.securityContext": lambda: obj["spec"].update(securityContext=5),
        "request.object.spec.securityContext.fsGroup": lambda: obj["spec"].update(
            securityContext={"fsGroup": "10001"}
        ),
    }
    breaks[change]()
    return json.dumps(document).encode()


BREAKS = [
    "apiVersion",
    "kind",
    "request",
    "request.uid",
    "request.resource",
    "request.resource.group",
    "request.operation",
    "request.object",
    "request.object.spec",
    "request.object.metadata",
    "request.object.metadata.annotations",
    "request.object.spec.containers",
    "request.object.spec.containers[0]",
    "request.object.spec.containers[0].name",
    "request.object.spec.volumes",
    "request.object.spec.securityContext",
    "request.object.spec.securityContext.fsGroup",
]


@pytest.mark.parametrize("field", BREAKS)
def test_malformed_review_names_the_field(field: str) -> None:
    """Each broken part is reported by its path."""
    with pytest.raises(ReviewError) as caught:
        decide(parse_review(_broken(field)), SETTINGS)
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize("body", [b"", b"{", b"\xff\xfe", b"[]", b"null", b"[" * 100_000])
def test_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    """Not JSON, not an object, or nested past the parser's depth: a ``ReviewError``."""
    with pytest.raises(ReviewError):
        parse_review(body)


def test_error_never_quotes_the_pod() -> None:
    """A malformed pod's message names where, not what: an env value may be a secret."""
    document = review(pod(INJECT))
    document["request"]["object"]["spec"]["containers"][0]["name"] = ["s3cr3t-value-never-logged"]
    with pytest.raises(ReviewError) as caught:
        decide(parse_review(json.dumps(document).encode()), SETTINGS)
    assert "s3cr3t" not in str(caught.value)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)
KEYS = st.sampled_from(
    ["metadata", "spec", "annotations", "containers", "initContainers", "volumes", "name", "securityContext"]
)
# JSON shaped like a pod, so the fuzzing reaches past the envelope into the pod's fields.
POD_LIKE = st.recursive(
    JSON,
    lambda children: (
        st.dictionaries(KEYS | st.text(max_size=6), children, max_size=5) | st.lists(children, max_size=3)
    ),
    max_leaves=40,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=256) | JSON.map(lambda value: json.dumps(value).encode()))
def test_fuzzed_bodies_parse_or_raise_review_error(body: bytes) -> None:
    """Any bytes: a parsed request or ``ReviewError``, nothing else."""
    with contextlib.suppress(ReviewError):
        decide(parse_review(body), SETTINGS)


NAMED = st.lists(st.fixed_dictionaries({"name": st.text(max_size=12)}, optional={"image": JSON}), max_size=3)
# Pods that mostly are pods, with odd names, volumes and security contexts: the patch path.
PODS = st.fixed_dictionaries(
    {"metadata": st.fixed_dictionaries({}, optional={"labels": JSON, "name": JSON})},
    optional={
        "spec": st.fixed_dictionaries(
            {},
            optional={
                "containers": NAMED | JSON,
                "initContainers": NAMED | JSON,
                "volumes": NAMED | JSON,
                "securityContext": st.fixed_dictionaries({}, optional={"fsGroup": JSON}) | JSON,
            },
        )
    },
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(obj=POD_LIKE | PODS, annotate=st.booleans())
def test_fuzzed_pods_are_patched_cleanly_or_refused(obj: Any, annotate: bool) -> None:
    """Any object in a pod creation review: ``ReviewError``, or a decision whose JSONPatch a real
    RFC 6902 implementation applies to that very object."""
    if annotate and isinstance(obj, dict):
        metadata = obj.setdefault("metadata", {})
        if isinstance(metadata, dict):
            metadata["annotations"] = dict(INJECT)
    try:
        decision = decide(parse_review(json.dumps(review(obj)).encode()), SETTINGS_WITH_SECRETS)
    except ReviewError:
        return
    result: Object = jsonpatch.apply_patch(obj, list(decision.patch))
    if decision.patch:
        assert any(c["name"] == "mcp-sidecar" for c in result["spec"]["initContainers"])
