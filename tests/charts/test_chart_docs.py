# SPDX-License-Identifier: Apache-2.0
"""docs/kubernetes.md keeps up with the chart: every value is named there, and the schema knows
every value the chart has."""

from __future__ import annotations

import json

import yaml

from tests.charts.rendering import CHART, ROOT

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
