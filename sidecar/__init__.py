# SPDX-License-Identifier: Apache-2.0
"""mcp-auth-sidecar: an authenticating, streaming reverse proxy for MCP servers in the same pod."""

__version__ = "0.1.0"
