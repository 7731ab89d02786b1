# SPDX-License-Identifier: Apache-2.0
"""A team's own chart adds the sidecar to its pod with the named templates of the mcp-sidecar
chart, listed as a dependency (tests/charts/team-chart)."""

from __future__ import annotations

import shutil
from pathlib import Path

import kubernetes_validate
import pytest

from tests.charts.rendering import CHART, KUBERNETES, Rendered, check_config, lay_out_pod_files, render

TEAM_CHART = Path(__file__).resolve().parent / "team-chart"


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """The team chart with mcp-sidecar in its charts/ folder, as `helm dependency build` leaves it."""
    chart = tmp_path_factory.mktemp("team") / "team-tools"
    shutil.copytree(TEAM_CHART, chart)
    shutil.copytree(CHART, chart / "charts" / "mcp-sidecar")
    return render({}, chart=chart)


def test_named_templates_put_the_sidecar_into_the_team_pod(team: Rendered) -> None:
    """The team's Deployment is the only one, and its pod runs the sidecar as a native sidecar
    next to the team's container, with the subchart's ConfigMap mounted."""
    (deployment,) = team.all("Deployment")
    assert deployment["metadata"]["name"] == "demo-team-tools"
    assert team.sidecar["restartPolicy"] == "Always"
    assert team.sidecar["image"] == "mcp-auth-sidecar:0.1.0"
    assert [container["name"] for container in team.pod["spec"]["containers"]] == ["team-tools"]
    assert team.sidecar_config["backends"][0]["url"] == "http://127.0.0.1:7000/mcp"
    assert team.all("Service") == []


def test_team_pod_is_valid_kubernetes_and_its_config_passes_check_config(
    team: Rendered, tmp_path: Path
) -> None:
    """The objects validate against Kubernetes' schemas and the config against the sidecar."""
    for obj in team.objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    result = check_config(lay_out_pod_files(team, tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("configuration OK: mode A")
