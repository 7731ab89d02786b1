# SPDX-License-Identifier: Apache-2.0
"""A real OAuth 2 / OIDC provider process (npm ``oauth2-mock-server``) for the tests, driven
through its control listener (``tests/idp/mock_idp.mjs``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import Process, free_port

IDP_DIR = Path(__file__).parents[1] / "idp"


class Idp:
    def __init__(self, process: Process, control_port: int, issuer: str) -> None:
        self.process = process
        self.issuer = issuer
        self._control = f"http://127.0.0.1:{control_port}"

    @classmethod
    async def start(cls) -> Idp:
        node = shutil.which("node")
        if node is None or not (IDP_DIR / "node_modules" / "oauth2-mock-server").is_dir():
            raise RuntimeError(
                "the test IdP needs Node.js and `npm ci --prefix tests/idp` (scripts/test does it)"
            )
        port, control = free_port(), free_port()
        popen_args: dict[str, Any] = {"cwd": IDP_DIR, "stdout": subprocess.DEVNULL}
        process = await Process.start_command(
            [node, "mock_idp.mjs", str(port), str(control)], control, **popen_args
        )
        idp = cls(process, control, "")
        idp.issuer = (await idp._get("/issuer"))["issuer"]
        return idp

    async def _get(self, path: str, **params: str) -> Any:
        async with aiohttp.ClientSession() as http, http.get(self._control + path, params=params) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def token(self, claims: dict[str, Any], *, kid: str | None = None, expires_in: int = 300) -> str:
        params = {"claims": json.dumps(claims), "expires_in": str(expires_in)}
        if kid is not None:
            params["kid"] = kid
        return str((await self._get("/token", **params))["access_token"])

    async def opaque_token(self, claims: dict[str, Any]) -> str:
        """An opaque token the IdP answers for at /introspect (client sidecar:introspection-secret)."""
        return str((await self._get("/opaque", claims=json.dumps(claims)))["access_token"])

    async def rotate(self, alg: str = "RS256") -> str:
        return str((await self._get("/rotate", alg=alg))["kid"])

    async def jwks_requests(self) -> int:
        return int((await self._get("/jwks-requests"))["count"])

    async def set_down(self, down: bool) -> None:
        await self._get("/down", on="1" if down else "0")

    async def rotate_refresh_tokens(self, rotate: bool) -> None:
        """Whether a refresh grant returns a new refresh token (RFC 6749 §6 lets the provider choose)."""
        await self._get("/refresh-rotation", on="1" if rotate else "0")

    async def refresh_grants(self) -> int:
        """Refresh grants the provider received (refused ones included)."""
        return int((await self._get("/refresh-grants"))["count"])

    async def set_token_ttl(self, seconds: int | None) -> None:
        """Lifetime of the tokens its token endpoint issues from now on (None: the default)."""
        await self._get("/token-ttl", seconds="" if seconds is None else str(seconds))

    async def forget_refresh_tokens(self) -> None:
        """Refuse every refresh token issued so far (the user's grant was revoked)."""
        await self._get("/forget-refresh-tokens")

    async def accepts(self, access_token: str) -> bool:
        """Whether the provider's own RFC 7662 introspection says the token is active."""
        headers = {"Authorization": aiohttp.encode_basic_auth("sidecar", "introspection-secret")}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.issuer}/introspect", data={"token": access_token}, headers=headers) as resp,
        ):
            assert resp.status == 200, await resp.text()
            return bool((await resp.json())["active"])

    def stop(self) -> None:
        self.process.stop()
