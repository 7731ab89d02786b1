# SPDX-License-Identifier: Apache-2.0
"""The command line as a user meets it: help text, version, a port already in use."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sidecar import __version__
from sidecar.cli import EXIT_LISTEN, main
from tests.support import free_port

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


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port another program is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args], capture_output=True, text=True, timeout=60, check=False
    )


def _assert_one_line_listen_error(result: subprocess.CompletedProcess[str], port: int, key: str) -> None:
    assert result.returncode == EXIT_LISTEN
    message = f"mcp-sidecar: cannot listen on 127.0.0.1:{port} ({key}): address already in use"
    assert result.stderr.splitlines()[-1] == message
    for noise in ("Traceback", "Unclosed", "Task was destroyed", "OSError"):
        assert noise not in result.stderr + result.stdout, noise


@pytest.mark.parametrize("key", ["server.port", "server.metrics_port"])
def test_serve_on_a_port_in_use_says_so_in_one_line(tmp_path: Path, occupied_port: int, key: str) -> None:
    """A listener that cannot bind is one line naming the address and setting, exit code 3,
    with no traceback and nothing left unclosed."""
    ports = (
        {"port": occupied_port}
        if key == "server.port"
        else {"port": free_port(), "metrics_port": occupied_port}
    )
    config = tmp_path / "sidecar.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"host": "127.0.0.1", **ports},
                "backends": [{"name": "b", "url": f"http://127.0.0.1:{free_port()}/", "path": "/b"}],
            }
        )
    )
    result = _run_cli("serve", "--config", str(config))
    _assert_one_line_listen_error(result, occupied_port, key)
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_demo_on_a_port_in_use_says_so_in_one_line(occupied_port: int) -> None:
    """Starting the demo twice: the second one ends with the same one-line message and exit code."""
    result = _run_cli("demo", "--port", str(occupied_port))
    _assert_one_line_listen_error(result, occupied_port, "server.port")
    assert "Point an MCP client" not in result.stdout  # no invitation to a port it does not hold
