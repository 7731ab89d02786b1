# SPDX-License-Identifier: Apache-2.0
"""``python -m bench [--smoke] [scenario ...]``: run the scenarios and print their tables."""

from __future__ import annotations

import argparse
import sys
import time

from bench import authserver, authz, mcp, outgoing, proxy, sse, tokens, tracing, workers
from bench.harness import LOAD_CORE, PROXY_CORE, machine

SCENARIOS = ("proxy", "mcp", "sse", "tokens", "authserver", "workers", "authz", "outgoing", "tracing")


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
        help="git ref of a build without tracing code (scenario tracing; default: the merge base with main)",
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
    if "proxy" in args.scenarios:
        print("## 1. Pass-through overhead\n")
        print(proxy.report(proxy.run(seconds)), "\n", flush=True)
    if "mcp" in args.scenarios:
        print("## 2. Real MCP server\n")
        print(mcp.report(mcp.run(seconds)), "\n", flush=True)
    if "sse" in args.scenarios:
        print("## 3. SSE fan-out\n")
        print(sse.report(sse.run(smoke=args.smoke)), "\n", flush=True)
    if "tokens" in args.scenarios:
        print("## 4. Token validation\n")
        print(tokens.report(tokens.run(smoke=args.smoke)), "\n", flush=True)
    if "authserver" in args.scenarios:
        print("## 5. Authorization server\n")
        print(authserver.report(authserver.run(seconds, smoke=args.smoke)), "\n", flush=True)
    if "workers" in args.scenarios:
        print("## 6. Workers\n")
        print(workers.report(workers.run(seconds)), "\n", flush=True)
    if "authz" in args.scenarios:
        print("## 7. Access control\n")
        print(authz.report(authz.run(smoke=args.smoke)), "\n", flush=True)
    if "outgoing" in args.scenarios:
        print("## 8. Outgoing auth\n")
        print(outgoing.report(outgoing.run(smoke=args.smoke)), "\n", flush=True)
    if "tracing" in args.scenarios:
        print("## 9. Tracing\n")
        print(tracing.report(tracing.run(seconds, args.baseline)), "\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
