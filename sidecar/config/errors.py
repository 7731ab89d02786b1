# SPDX-License-Identifier: Apache-2.0
"""Configuration errors: every problem names its key path, what is wrong and how to fix it.

ConfigError            raised once, carrying every ConfigIssue found
  └─ issues: tuple[ConfigIssue, ...]   errors, and the warnings found alongside them

A warning (``severity="warning"``) is reported the same way, by key path, but does not stop
the sidecar; loaded settings carry theirs in ``Settings.warnings``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem in the configuration, located by its key path (``backends[0].url``)."""

    path: str
    problem: str
    fix: str = ""
    severity: Severity = "error"

    def __str__(self) -> str:
        where = self.path or "(top level)"
        text = f"{where}: {self.problem}" + (f" — {self.fix}" if self.fix else "")
        return f"warning: {text}" if self.severity == "warning" else text


def warning(path: str, problem: str, fix: str = "") -> ConfigIssue:
    """A finding that is reported but does not stop the sidecar."""
    return ConfigIssue(path, problem, fix, severity="warning")


class ConfigError(Exception):
    """The configuration cannot be used; ``issues`` lists every reason (and warning) at once."""

    def __init__(self, issues: list[ConfigIssue] | tuple[ConfigIssue, ...]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))
