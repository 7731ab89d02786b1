# SPDX-License-Identifier: Apache-2.0
"""``python -m bench [--smoke] [scenario ...]``: run the scenarios and print their tables."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from bench import authserver, authz, mcp, outgoing, ownwork, proxy, sse, tokens, tracing, workers
from bench.harness import LOAD_CORE, PROXY_CORE, machine

Run = Callable[[argparse.Namespace, float], str]  # the parsed arguments, wrk seconds -> the report

# Each scenario: its heading, and how to run it and render its table.
SCENARIOS: dict[str, tuple[str, Run]] = {
    "proxy": ("1. Pass-through overhead", lambda _a, s: proxy.report(proxy.run(s))),
    "mcp": ("2. Real MCP server", lambda _a, s: mcp.report(mcp.run(s))),
    "sse": ("3. SSE fan-out", lambda a, _s: sse.report(sse.run(smoke=a.smoke))),
    "tokens": ("4. Token validation", lambda a, _s: tokens.report(tokens.run(smoke=a.smoke))),
    "authserver": (
        "5. Authorization server",
        lambda a, s: authserver.report(authserver.run(s, smoke=a.smoke)),
    ),
    "workers": ("6. Workers", lambda _a, s: workers.report(workers.run(s))),
    "authz": ("7. Access control", lambda a, _s: authz.report(authz.run(smoke=a.smoke))),
    "outgoing": ("8. Outgoing auth", lambda a, _s: outgoing.report(outgoing.run(smoke=a.smoke))),
    "tracing": ("9. Tracing", lambda a, s: tracing.report(tracing.run(s, a.baseline))),
    "ownwork": (
        "10. The sidecar's own work per request",
        lambda a, s: ownwork.report(ownwork.run(s, a.baseline, smoke=a.smoke)),
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument(
        "scenarios", nargs="*", metavar="SCENARIO", help=f"any of {', '.join(SCENARIOS)} (default: all)"
    )
    parser.add_argument("--smoke", action="store_true", help="a short run that checks the suite works (CI)")
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk duration per measurement")
    parser.add_argument(
        "--baseline",
        default=None,
        help=(
            "git ref of the build to compare with (scenario tracing: one without tracing code; "
            "scenario ownwork: the one before; default: the merge base with main)"
        ),
    )
    args = parser.parse_args()
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    args.scenarios = args.scenarios or list(SCENARIOS)
    seconds = 1.0 if args.smoke else args.seconds
    print(f"# mcp-auth-sidecar benchmarks ({time.strftime('%Y-%m-%d')})\n")
    note = " (smoke run: the numbers mean nothing)" if args.smoke else ""
    print(
        f"Machine: {machine()}. Proxy under test pinned to core {PROXY_CORE}; wrk and the backend to core "
        f"{LOAD_CORE}. Each wrk measurement lasts {seconds:g}s{note}.\n"
    )
    for name, (heading, run) in SCENARIOS.items():
        if name in args.scenarios:
            print(f"## {heading}\n")
            print(run(args, seconds), "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
