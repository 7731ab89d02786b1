# SPDX-License-Identifier: Apache-2.0
"""Command line: ``mcp-sidecar serve | check-config | demo`` and ``--version``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sidecar import __version__
from sidecar.config import ConfigError, Settings, load_config_file
from sidecar.config.loader import config_path_from_env
from sidecar.observability.logging import configure_logging

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mcp-sidecar", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mcp-sidecar {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("serve", "run the sidecar"), ("check-config", "check a config file and exit")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--config", help="YAML config file (default: $MCP_SIDECAR_CONFIG)")
    demo = commands.add_parser("demo", help="run the sidecar in front of a demo MCP server")
    demo.add_argument("--port", type=int, default=8080, help="sidecar port (default 8080)")
    return parser


def _load(path: str | None) -> Settings:
    path = path or config_path_from_env()
    if path is None:
        raise ConfigError([])
    return load_config_file(path)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from sidecar.demo.run import run_demo  # noqa: PLC0415 - needs the optional `mcp` package

        return run_demo(args.port)
    try:
        settings = _load(args.config)
    except ConfigError as exc:
        if not exc.issues:
            print(
                "mcp-sidecar: no config file: pass --config FILE or set MCP_SIDECAR_CONFIG", file=sys.stderr
            )
        else:
            print(f"mcp-sidecar: the configuration has {len(exc.issues)} problem(s):", file=sys.stderr)
            for issue in exc.issues:
                print(f"  - {issue}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        print(
            f"configuration OK: {len(settings.backends)} backend(s): "
            + ", ".join(f"{b.name} at {b.path}" for b in settings.backends)
        )
        return 0
    configure_logging(settings.server.log_level, settings.server.log_format)
    from sidecar.server import run  # noqa: PLC0415 - keeps check-config free of server imports

    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
