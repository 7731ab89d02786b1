# SPDX-License-Identifier: Apache-2.0
"""The MCP server of scenario 2 (official SDK, stateless, JSON responses), run either without
auth (to sit behind the sidecar) or with the SDK's own bearer-token checks and a PyJWT
verifier of the same tokens (auth inside the server).

Run: ``python -m bench.mcp_server PORT none|jwt [PUBLIC_KEY_PEM_FILE ISSUER AUDIENCE]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from pydantic import AnyHttpUrl


class PyJwtVerifier:
    """ES256 JWT checks (signature, issuer, audience, expiry) for the SDK's bearer middleware."""

    def __init__(self, public_key_pem: bytes, issuer: str, audience: str) -> None:
        key = serialization.load_pem_public_key(public_key_pem)
        if not isinstance(key, ec.EllipticCurvePublicKey):
            raise TypeError("an EC P-256 public key is expected")
        self._key = key
        self._issuer, self._audience = issuer, audience

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            claims = jwt.decode(
                token, self._key, algorithms=["ES256"], issuer=self._issuer, audience=self._audience
            )
        except jwt.PyJWTError:
            return None
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id", "bench")),
            scopes=str(claims.get("scope", "")).split(),
            expires_at=int(claims["exp"]),
            resource=self._audience,
            subject=claims.get("sub"),
        )


def build(mode: str, args: list[str]) -> MCPServer:
    if mode == "jwt":
        pem, issuer, audience = Path(args[0]).read_bytes(), args[1], args[2]
        server = MCPServer(
            "bench",
            token_verifier=PyJwtVerifier(pem, issuer, audience),
            auth=AuthSettings(issuer_url=AnyHttpUrl(issuer), resource_server_url=AnyHttpUrl(audience)),
        )
    else:
        server = MCPServer("bench")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    return server


if __name__ == "__main__":
    port, mode = int(sys.argv[1]), sys.argv[2]
    app = build(mode, sys.argv[3:]).streamable_http_app(stateless_http=True, json_response=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="error", access_log=False)
