# SPDX-License-Identifier: Apache-2.0
"""The demo: a real MCP server (official SDK) behind the sidecar, on an embedded default config.
Also the MCP server the end-to-end tests run. Needs the ``demo`` extra (the ``mcp`` package)."""
