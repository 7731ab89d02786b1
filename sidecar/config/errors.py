# SPDX-License-Identifier: Apache-2.0
"""Configuration errors: every problem names its key path, what is wrong and how to fix it.

ConfigError            raised once, carrying every ConfigIssue found
  └─ issues: tuple[ConfigIssue, ...]
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in the configuration, located by its key path (``backends[0].url``)."""

    path: str
    problem: str
    fix: str = ""

    def __str__(self) -> str:
        where = self.path or "(top level)"
        return f"{where}: {self.problem}" + (f" — {self.fix}" if self.fix else "")


class ConfigError(Exception):
    """The configuration cannot be used; ``issues`` lists every reason at once."""

    def __init__(self, issues: list[ConfigIssue] | tuple[ConfigIssue, ...]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))
