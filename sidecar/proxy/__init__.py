# SPDX-License-Identifier: Apache-2.0
"""The reverse proxy: routing by public path, header rules, body limits and the streaming
forwarder that relays streamable HTTP, legacy HTTP+SSE and JSON responses."""
