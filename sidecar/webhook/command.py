# SPDX-License-Identifier: Apache-2.0
"""``mcp-sidecar inject-webhook``: its options, and running it."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sidecar.webhook.settings import WebhookConfigError, load_settings

EXIT_CONFIG = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        required=True,
        metavar="FILE",
        help="YAML file: sidecar (image, ports, resources, probes), secrets, configMap",
    )
    parser.add_argument("--tls-cert-file", required=True, metavar="FILE", help="PEM server certificate chain")
    parser.add_argument(
        "--tls-key-file", required=True, metavar="FILE", help="PEM private key of that certificate"
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8443, help="HTTPS port (default 8443)")
    parser.add_argument(
        "--log-level", default="info", choices=("debug", "info", "warning", "error"), help="default info"
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT: 0; 2 on a configuration or TLS file problem; a port that
    cannot be opened raises ``ListenError`` (exit 3, as for ``serve``)."""
    from sidecar.listen import ListenError  # noqa: PLC0415
    from sidecar.observability.logging import configure_logging  # noqa: PLC0415
    from sidecar.webhook.web import create_webhook_app, serve_webhook, server_tls  # noqa: PLC0415

    try:
        settings = load_settings(args.config)
        tls = server_tls(args.tls_cert_file, args.tls_key_file)
    except WebhookConfigError as exc:
        print(f"mcp-sidecar: the webhook configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(args.log_level, "json")
    try:
        asyncio.run(serve_webhook(create_webhook_app(settings), args.host, args.port, tls))
    except OSError as exc:
        raise ListenError(args.host, args.port, "--port", exc) from None
    return 0
