# SPDX-License-Identifier: Apache-2.0
"""Bearer-token authentication as an OAuth resource server (MCP authorization spec).

Pure protocol code (``access_token``, ``keys``, ``bearer``, ``protected_resource``) takes plain
values and ``now``; ``validator`` resolves keys in tiers (in-process provider → verified-token
cache → JWKS over HTTP, or RFC 7662 introspection for opaque tokens); ``authenticator`` is the
thin layer the proxy calls.
"""
