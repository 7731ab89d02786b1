# SPDX-License-Identifier: Apache-2.0
"""The command line as a user meets it: help text, version."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from sidecar import __version__
from sidecar.cli import main

COMMANDS = ["serve", "check-config", "demo", "keygen", "hash-password"]
# reST and Markdown markup that reads as noise in a terminal: ``literal``, `role`, :rfc:`x`, **bold**.
MARKUP = re.compile(r"``|`|:[a-z]+:`|\*\*")


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=["top", *COMMANDS])
def test_help_is_plain_text_without_markup(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` of the program and of every command reads as plain text: no reST or Markdown."""
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: mcp-sidecar {' '.join(command)}".rstrip())
    assert MARKUP.search(text) is None, text


def test_top_level_help_lists_every_command_and_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    """The program's help names each command and each exit code a script may see."""
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s", text, re.MULTILINE), name
    for code in ("0", "1", "2", "3"):
        assert re.search(rf"^\s+{code}\s", text, re.MULTILINE), code


def test_version_flag() -> None:
    """`python -m sidecar --version` prints the package version."""
    result = subprocess.run(
        [sys.executable, "-m", "sidecar", "--version"], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == f"mcp-sidecar {__version__}"
