# SPDX-License-Identifier: Apache-2.0
"""The Dockerfile and the chart agree: where the image reads its configuration, who it runs as,
where it may write, which ports it exposes. No container engine here: the Dockerfile is read."""

from __future__ import annotations

import re

import pytest

from tests.charts.rendering import ROOT, Rendered, render
from tests.charts.value_sets import VALUE_SETS

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _env(name: str) -> str:
    found = re.search(rf"\b{name}=(\S+)", DOCKERFILE)
    assert found is not None, name
    return found.group(1)


@pytest.fixture(scope="module")
def default() -> Rendered:
    return render(VALUE_SETS["default"])


def test_chart_mounts_the_config_where_the_image_reads_it(default: Rendered) -> None:
    """The image's MCP_SIDECAR_CONFIG is where the chart mounts config.yaml."""
    mounts = [mount["mountPath"] for mount in default.sidecar["volumeMounts"]]
    assert _env("MCP_SIDECAR_CONFIG") in mounts


def test_image_user_is_the_charts_numeric_user(default: Rendered) -> None:
    """The image runs as a numeric non-root user and group, the ones the chart declares."""
    user = re.search(r"^USER (\d+):(\d+)$", DOCKERFILE, re.MULTILINE)
    assert user is not None
    context = default.sidecar["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"]) == (int(user[1]), int(user[2]))
    assert context["runAsUser"] != 0


def test_image_writes_only_where_the_chart_mounts_an_empty_dir(default: Rendered) -> None:
    """TMPDIR is the image's only writable place; the chart mounts an emptyDir there and no
    bytecode is written at run time."""
    tmpdir = _env("TMPDIR")
    volumes = {volume["name"]: volume for volume in default.pod["spec"]["volumes"]}
    (mount,) = [mount for mount in default.sidecar["volumeMounts"] if mount["mountPath"] == tmpdir]
    assert "emptyDir" in volumes[mount["name"]]
    assert _env("PYTHONDONTWRITEBYTECODE") == "1"


def test_image_exposes_the_charts_default_ports(default: Rendered) -> None:
    """EXPOSE lists the sidecar's default main and metrics ports."""
    exposed = re.search(r"^EXPOSE (.+)$", DOCKERFILE, re.MULTILINE)
    assert exposed is not None
    ports = {port["containerPort"] for port in default.sidecar["ports"]}
    assert {int(port) for port in exposed[1].split()} == ports


def test_image_is_multi_stage_with_oci_labels() -> None:
    """A build stage and a final stage; the final image carries the OCI annotations."""
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.MULTILINE)) == 2
    assert re.search(r"^FROM \S+ AS build$", DOCKERFILE, re.MULTILINE)
    for label in ("title", "description", "version", "revision", "created", "licenses"):
        assert f"org.opencontainers.image.{label}=" in DOCKERFILE, label
