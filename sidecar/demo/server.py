# SPDX-License-Identifier: Apache-2.0
"""A small MCP server built on the official SDK, speaking streamable HTTP (both MCP eras) at
``/mcp`` and the legacy HTTP+SSE transport at ``/sse`` + ``/messages/``.

Run: ``python -m sidecar.demo.server --port 3001``.
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from starlette.applications import Starlette


def build_server() -> MCPServer:
    mcp = MCPServer("sidecar-demo", instructions="A demo server behind mcp-auth-sidecar.")

    @mcp.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @mcp.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @mcp.tool()
    async def countdown(steps: int, interval: float, ctx: Context) -> str:
        """Count down, reporting progress after every step."""
        for step in range(1, steps + 1):
            await asyncio.sleep(interval)
            await ctx.report_progress(step, steps, f"step {step} of {steps}")
        return "liftoff"

    @mcp.tool()
    async def sleep(seconds: float) -> str:
        """Sleep, then answer (for cancellation and drain tests)."""
        await asyncio.sleep(seconds)
        return f"slept {seconds}s"

    return mcp


def build_app(mcp: MCPServer) -> Starlette:
    streamable = mcp.streamable_http_app(streamable_http_path="/mcp")
    legacy = mcp.sse_app(sse_path="/sse", message_path="/messages/")
    return Starlette(routes=[*streamable.routes, *legacy.routes], lifespan=streamable.router.lifespan_context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    args = parser.parse_args()
    uvicorn.run(build_app(build_server()), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
