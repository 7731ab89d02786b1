# SPDX-License-Identifier: Apache-2.0
"""The configuration reference documents every key of the schema."""

from __future__ import annotations

from pathlib import Path

from sidecar.config.loader import iter_keys

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_every_config_key_is_documented() -> None:
    text = DOC.read_text()
    missing = sorted({key for key, _doc in iter_keys() if f"`{key}`" not in text})
    assert missing == []


def test_every_key_has_a_description_in_the_schema() -> None:
    assert all(doc.strip() for _key, doc in iter_keys())
