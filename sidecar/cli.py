# SPDX-License-Identifier: Apache-2.0
"""Command line: ``mcp-sidecar serve | check-config | demo | keygen | hash-password |
inject-webhook`` and ``--version``."""

from __future__ import annotations

import argparse
import base64
import getpass
import os
import secrets
import sys
from collections.abc import Callable, Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from sidecar import __version__
from sidecar.config import ConfigError, ConfigIssue, Settings, load_config_file
from sidecar.config.loader import config_path_from_env
from sidecar.config.passwords import hash_password
from sidecar.observability.logging import configure_logging
from sidecar.webhook import command as webhook_command

EXIT_CONFIG = 2
EXIT_LISTEN = 3


DESCRIPTION = "An authenticating reverse proxy (OAuth) in front of MCP servers."
EPILOG = """\
Run 'mcp-sidecar COMMAND --help' for the options of a command.

exit codes:
  0  clean stop, valid configuration, file written
  1  the authorization server or the demo could not start; keygen could not write its file
  2  a configuration error (inject-webhook: also its TLS files), an empty password, or a
     command-line error
  3  serve, demo or inject-webhook could not listen on its address (for example: address in use)
  4  serve with server.workers above 1: workers kept dying (more than 5 restarts in 60 s)
"""


def _parser() -> argparse.ArgumentParser:
    # Plain text, not the module docstring: argparse prints it as is, and reST markup reads badly.
    parser = argparse.ArgumentParser(
        prog="mcp-sidecar",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mcp-sidecar {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text, description in (
        ("serve", "run the sidecar", "Run the sidecar until SIGTERM or SIGINT, then drain and stop."),
        (
            "check-config",
            "check a config file and exit",
            "Run every check serve runs on the configuration, print the result, and exit.",
        ),
    ):
        sub = commands.add_parser(name, help=text, description=description)
        sub.add_argument(
            "--config",
            metavar="FILE",
            help="YAML config file (default: the file named by $MCP_SIDECAR_CONFIG)",
        )
    demo = commands.add_parser(
        "demo",
        help="run the sidecar in front of a demo MCP server",
        description="Start a demo MCP server and the sidecar in front of it on 127.0.0.1, by default "
        "with the built-in login (user demo, password demo).",
    )
    demo.add_argument("--port", type=int, default=8080, help="sidecar port (default 8080)")
    demo.add_argument(
        "--anonymous",
        action="store_true",
        help="plain proxy without authentication (Mode A) instead of the built-in login",
    )
    keygen = commands.add_parser(
        "keygen",
        help="write a new signing key (PEM) or HMAC secret file",
        description="Write a new signing key (PEM) or HMAC secret for the embedded authorization server.",
    )
    keygen.add_argument(
        "--out", required=True, metavar="FILE", help="file to create (mode 0600; never overwritten)"
    )
    keygen.add_argument(
        "--type",
        choices=("ec", "rsa", "ed25519"),
        default="ec",
        help="signing key type: ec (P-256, ES256; default), rsa (3072 bits, RS256), ed25519",
    )
    keygen.add_argument("--hmac", action="store_true", help="write a 64-byte HMAC secret instead of a key")
    commands.add_parser(
        "hash-password",
        help="read a password on stdin, print its scrypt hash",
        description="Read a password (a hidden prompt on a terminal, else the first line of stdin) and "
        "print its scrypt hash, for a static user's password_hash.",
    )
    webhook_command.add_arguments(
        commands.add_parser(
            "inject-webhook",
            help="serve the Kubernetes sidecar injection webhook",
            description="Serve a mutating admission webhook over HTTPS (POST /mutate, GET /health) that "
            'adds the sidecar to pods annotated mcp-sidecar.io/inject: "true".',
        )
    )
    return parser


def _load(path: str | None) -> Settings:
    path = path or config_path_from_env()
    if path is None:
        raise ConfigError([])
    return load_config_file(path)


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one return per command
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from sidecar.demo.run import run_demo  # noqa: PLC0415 - needs the optional `mcp` package

        return _until_stopped(lambda: run_demo(args.port, anonymous=args.anonymous))
    if args.command == "keygen":
        return keygen(args.out, args.type, hmac_secret=args.hmac)
    if args.command == "hash-password":
        return _hash_password()
    if args.command == "inject-webhook":
        return _until_stopped(lambda: webhook_command.run(args))
    try:
        settings = _load(args.config)
    except ConfigError as exc:
        _print_config_error(exc)
        return EXIT_CONFIG
    _print_issues(f"{len(settings.warnings)} warning(s)", settings.warnings)
    if args.command == "check-config":
        backends = ", ".join(f"{b.name} at {b.path}" for b in settings.backends)
        mode = "B (embedded authorization server)" if settings.auth_server is not None else "A"
        print(f"configuration OK: mode {mode}; {len(settings.backends)} backend(s): {backends}")
        return 0
    return _until_stopped(lambda: _serve(settings))


def _until_stopped(listening_command: Callable[[], int]) -> int:
    """Run ``serve`` or ``demo``; a socket that cannot be opened is one line on stderr and its own
    exit code, never a traceback (the configuration was fine: the machine's state is not)."""
    from sidecar.listen import ListenError  # noqa: PLC0415 - keeps check-config and keygen light

    try:
        return listening_command()
    except ListenError as exc:
        print(f"mcp-sidecar: {exc}", file=sys.stderr)
        return EXIT_LISTEN


def _print_config_error(exc: ConfigError) -> None:
    if not exc.issues:
        print("mcp-sidecar: no config file: pass --config FILE or set MCP_SIDECAR_CONFIG", file=sys.stderr)
        return
    errors = sum(issue.severity == "error" for issue in exc.issues)
    _print_issues(f"the configuration has {errors} problem(s)", exc.issues)


def _print_issues(title: str, issues: Sequence[ConfigIssue]) -> None:
    """Errors and warnings alike, one per line by key path, on stderr (never on stdout, which
    ``check-config`` keeps for its verdict)."""
    if not issues:
        return
    print(f"mcp-sidecar: {title}:", file=sys.stderr)
    for issue in issues:
        print(f"  - {issue}", file=sys.stderr)


def _serve(settings: Settings) -> int:
    configure_logging(settings.server.log_level, settings.server.log_format)
    if settings.server.workers > 1:
        from sidecar.supervisor import supervise  # noqa: PLC0415 - keeps check-config light

        return supervise(
            settings,
            lambda on_listening, metrics_dir: _until_stopped(
                lambda: _serve_one(settings, on_listening, metrics_dir)
            ),
        )
    return _serve_one(settings)


def _serve_one(
    settings: Settings, on_listening: Callable[[], None] | None = None, metrics_dir: str | None = None
) -> int:
    """One sidecar process: the only one, or a worker of the supervisor."""
    from sidecar.authserver.server import AuthServerError  # noqa: PLC0415 - keeps check-config light
    from sidecar.outgoing.build import OutgoingNotAvailable  # noqa: PLC0415
    from sidecar.server import run  # noqa: PLC0415

    try:
        run(settings, on_listening, metrics_dir=metrics_dir)
    except OutgoingNotAvailable as exc:
        print(f"mcp-sidecar: outgoing auth cannot start: {exc}", file=sys.stderr)
        return 1
    except AuthServerError as exc:
        # Fail closed: never a silent fall-back to Mode A.
        print(f"mcp-sidecar: the authorization server cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


def _hash_password() -> int:
    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if not password:
        print("mcp-sidecar: an empty password cannot be hashed", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def keygen(path: str, key_type: str, *, hmac_secret: bool) -> int:
    if hmac_secret:
        data = base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=") + b"\n"
    else:
        key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
        if key_type == "rsa":
            key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
        elif key_type == "ed25519":
            key = ed25519.Ed25519PrivateKey.generate()
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        data = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        print(f"mcp-sidecar: cannot create {path}: {exc.strerror}", file=sys.stderr)
        return 1
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    print(f"wrote {'an HMAC secret' if hmac_secret else f'a {key_type} signing key'} to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
