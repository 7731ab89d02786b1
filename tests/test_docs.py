# SPDX-License-Identifier: Apache-2.0
"""The README and docs/ stand on their own: every relative link resolves inside the repository,
and no page cites a document the repository does not hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Documents of the project's planning, kept outside the repository: a reader of the docs has none.
OUTSIDE = re.compile(r"DESIGN\.md|\.\./shared|\bshared/(docs|reference)\b|attack-checklist")


def _relative_links(page: Path) -> list[str]:
    return [
        target.split("#", 1)[0]
        for target in LINK.findall(page.read_text())
        if not re.match(r"[a-z]+:", target) and not target.startswith("#")
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_relative_links_resolve_inside_the_repository(page: Path) -> None:
    """A relative link points at a file of the repository."""
    for target in _relative_links(page):
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links outside the repository: {target}"
        assert resolved.exists(), f"{page.name} links to a missing file: {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_docs_cite_no_document_outside_the_repository(page: Path) -> None:
    """No page cites DESIGN.md or the planning folder: the docs are the product's contract."""
    found = OUTSIDE.findall(page.read_text())
    assert not found, f"{page.name} cites {found}"
