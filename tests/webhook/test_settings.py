# SPDX-License-Identifier: Apache-2.0
"""The webhook's YAML file: the chart's defaults when a key is left out, and every problem named
by its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidecar.webhook.injection import sidecar_container
from sidecar.webhook.settings import WebhookConfigError, load_settings, parse_settings
from tests.charts.rendering import render
from tests.charts.value_sets import VALUE_SETS


def test_defaults_are_the_charts() -> None:
    """A file naming only the image gives the container the chart renders with its defaults."""
    chart = render(VALUE_SETS["default"])
    repository, tag = chart.sidecar["image"].rsplit(":", 1)
    settings = parse_settings({"sidecar": {"image": {"repository": repository, "tag": tag}}})
    assert sidecar_container(settings.template) == chart.sidecar


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (None, "(top level)"),
        ({"sidecar": {"image": {"tag": "1"}}}, "sidecar.image.repository"),
        ({"sidecar": {"image": {"repository": "x", "tag": 1.2}}}, "sidecar.image.tag"),
        (
            {"sidecar": {"image": {"repository": "x", "tag": "1", "pullPolicy": "Sometimes"}}},
            "sidecar.image.pullPolicy",
        ),
        ({"sidecar": {"image": {"repository": "x", "tag": "1"}, "port": 0}}, "sidecar.port"),
        (
            {"sidecar": {"image": {"repository": "x", "tag": "1"}, "metricsPort": "9464"}},
            "sidecar.metricsPort",
        ),
        ({"sidecar": {"image": {"repository": "x", "tag": "1"}, "native": "yes"}}, "sidecar.native"),
        ({"sidecar": {"image": {"repository": "x", "tag": "1"}, "extraEnv": {"A": "b"}}}, "sidecar.extraEnv"),
        ({"sidecar": {"image": {"repository": "x", "tag": "1"}, "resources": []}}, "sidecar.resources"),
        ({"sidecar": {"image": {"repository": "x", "tag": "1"}}, "secrets": {"vault": {}}}, "secrets.vault"),
        (
            {
                "sidecar": {"image": {"repository": "x", "tag": "1"}},
                "secrets": {"hmacSecrets": {"existingSecret": 5}},
            },
            "secrets.hmacSecrets",
        ),
        ({"sidecar": {"image": {"repository": "x", "tag": "1"}}, "configMap": ["a"]}, "configMap"),
        ({"sidecar": {"image": {"repository": "x", "tag": "1"}}, "config": {}}, "config"),
    ],
)
def test_problems_name_their_key_path(data: Any, path: str) -> None:
    """Each bad value is reported by its key path."""
    with pytest.raises(WebhookConfigError) as caught:
        parse_settings(data)
    assert any(problem.startswith(f"{path}: ") for problem in caught.value.problems), caught.value.problems


def test_every_problem_is_listed_at_once() -> None:
    """One run reports them all, not the first only."""
    with pytest.raises(WebhookConfigError) as caught:
        parse_settings({"sidecar": {"image": {}, "port": "x"}})
    assert len(caught.value.problems) == 3


@pytest.mark.parametrize(("text", "problem"), [(None, "cannot read"), ("sidecar: [", "not valid YAML")])
def test_unreadable_file_is_a_config_error(tmp_path: Path, text: str | None, problem: str) -> None:
    """A missing file or broken YAML is reported against --config."""
    path = tmp_path / "webhook.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(WebhookConfigError, match=f"--config: .*{problem}"):
        load_settings(str(path))
