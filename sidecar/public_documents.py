# SPDX-License-Identifier: Apache-2.0
"""Serving public, cacheable JSON documents (RFC 9728 and RFC 8414 metadata, the JWK Set) to any
origin: browser-based MCP clients fetch them cross-origin, and none carry credentials."""

from __future__ import annotations

import json
from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Handler

ANY_ORIGIN = {"Access-Control-Allow-Origin": "*"}


def public_json(document: Mapping[str, object]) -> Handler:
    """A handler answering ``document``, serialized once."""
    body = json.dumps(document)

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(
            text=body, content_type="application/json", headers={**ANY_ORIGIN, "Cache-Control": "max-age=300"}
        )

    return handler


async def cors_preflight(_request: web.Request) -> web.Response:
    """The answer to a CORS preflight for the public and OAuth endpoints (no credentials mode)."""
    return web.Response(
        status=204,
        headers={
            **ANY_ORIGIN,
            "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
            "Access-Control-Allow-Headers": "Authorization, Content-Type, MCP-Protocol-Version",
            "Access-Control-Max-Age": "86400",
        },
    )
