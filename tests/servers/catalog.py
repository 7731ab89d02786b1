# SPDX-License-Identifier: Apache-2.0
"""A real MCP server (official SDK) with several tools, prompts and resources, for the access
control tests. It records every tool it ran and every prompt and resource it served, readable at
``GET /seen`` straight from the server (not through the sidecar), so a test can tell that a
denied call never reached it.

Run: ``python -m tests.servers.catalog --port N [--json]`` (``--json``: JSON responses instead
of SSE streams on ``/mcp``).
"""

from __future__ import annotations

import argparse

import uvicorn
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SEEN: list[str] = []


def build_server() -> MCPServer:
    mcp = MCPServer("catalog")

    @mcp.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        SEEN.append("tool:add")
        return a + b

    @mcp.tool()
    def deploy(target: str) -> str:
        """Deploy (only for the ops group)."""
        SEEN.append("tool:deploy")
        return f"deployed {target}"

    @mcp.tool()
    def read_file(path: str) -> str:
        """Read a file (only below /public for most)."""
        SEEN.append(f"tool:read_file:{path}")
        return f"contents of {path}"

    @mcp.tool()
    def wipe() -> str:
        """Nobody may call this."""
        SEEN.append("tool:wipe")
        return "wiped"

    @mcp.prompt()
    def greet(name: str) -> str:
        """A greeting."""
        SEEN.append("prompt:greet")
        return f"Hello {name}"

    @mcp.prompt()
    def incident() -> str:
        """Ops only."""
        SEEN.append("prompt:incident")
        return "Run the incident playbook"

    @mcp.resource("docs://public", name="public")
    def public_doc() -> str:
        SEEN.append("resource:docs://public")
        return "public"

    @mcp.resource("docs://private", name="private")
    def private_doc() -> str:
        SEEN.append("resource:docs://private")
        return "private"

    @mcp.resource("files://public/{name}", name="public_file")
    def public_file(name: str) -> str:
        SEEN.append(f"resource:files://public/{name}")
        return name

    @mcp.resource("files://private/{name}", name="private_file")
    def private_file(name: str) -> str:
        SEEN.append(f"resource:files://private/{name}")
        return name

    return mcp


async def _seen(_request: Request) -> JSONResponse:
    return JSONResponse(SEEN)


def build_app(mcp: MCPServer, *, json_response: bool) -> Starlette:
    streamable = mcp.streamable_http_app(streamable_http_path="/mcp", json_response=json_response)
    legacy = mcp.sse_app(sse_path="/sse", message_path="/messages/")
    return Starlette(
        routes=[Route("/seen", _seen), *streamable.routes, *legacy.routes],
        lifespan=streamable.router.lifespan_context,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    app = build_app(build_server(), json_response=args.json)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
