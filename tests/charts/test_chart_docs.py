# SPDX-License-Identifier: Apache-2.0
"""docs/kubernetes.md keeps up with the chart: every value is named there, its values files
install, and the schema knows every value the chart has."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.charts.rendering import (
    CHART,
    KUBERNETES,
    ROOT,
    check_config,
    lay_out_pod_files,
    render,
)

VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
SCHEMA = json.loads((CHART / "values.schema.json").read_text())


def test_every_top_level_value_is_documented() -> None:
    """Each top-level key of values.yaml appears in docs/kubernetes.md."""
    page = (ROOT / "docs" / "kubernetes.md").read_text()
    missing = [key for key in VALUES if f"`{key}" not in page]
    assert missing == []


def test_schema_describes_every_value() -> None:
    """values.schema.json lists every top-level key of values.yaml, and no key values.yaml lacks
    (besides Helm's own `global`)."""
    assert set(SCHEMA["properties"]) - {"global"} == set(VALUES)


def _value_examples() -> dict[str, dict[str, Any]]:
    """The complete values files docs/kubernetes.md shows: YAML blocks opening with `# values-`."""
    page = (ROOT / "docs" / "kubernetes.md").read_text()
    blocks = re.findall(r"```yaml\n(# (values-[\w-]+\.yaml)\n.*?)```", page, re.DOTALL)
    return {name: yaml.safe_load(text) for text, name in blocks}


EXAMPLES = _value_examples()


def test_docs_show_value_examples() -> None:
    """The page has its complete examples (so the test below cannot pass on none)."""
    assert set(EXAMPLES) >= {"values-oidc.yaml", "values-mode-b.yaml", "values-webhook.yaml"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_docs_value_examples_install_and_pass_check_config(name: str, tmp_path: Path) -> None:
    """Each values file of the page renders, is valid Kubernetes, and the config of its pod (when
    it has one: the webhook's example has none) passes the real `check-config` without warnings."""
    rendered = render(EXAMPLES[name])
    for obj in rendered.objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    if not rendered.all("Deployment"):
        assert rendered.webhook("MutatingWebhookConfiguration")
        return
    result = check_config(lay_out_pod_files(rendered, tmp_path))
    assert result.returncode == 0, result.stderr
    assert "warning:" not in result.stderr, result.stderr
