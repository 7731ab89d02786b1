# SPDX-License-Identifier: Apache-2.0
"""Closing and gating dynamic client registration (RFC 7591 §3): ``auth_server.dcr.enabled`` and
the initial access token, over real HTTP on a running sidecar."""

from __future__ import annotations

from pathlib import Path

import pytest

from sidecar.config import ConfigError, load_config_data
from tests.authserver.flow import REDIRECT, RawClient, mode_b_raw, mode_b_settings, running

TOKEN = "iat-8Wq3v0hKx2N7cLp4sYd9"


async def _register(raw: RawClient, authorization: str | None) -> tuple[int, dict[str, str], str | None]:
    headers = {"Authorization": authorization} if authorization is not None else {}
    body = {"redirect_uris": [REDIRECT]}
    async with raw.http.post(f"{raw.base}/oauth/register", json=body, headers=headers) as resp:
        return resp.status, dict(await resp.json()), resp.headers.get("WWW-Authenticate")


async def test_closed_registration_refuses_and_is_not_advertised(mcp_server: str) -> None:
    async with running(mode_b_settings(mcp_server, dcr={"enabled": False})) as raw:
        status, body, _challenge = await _register(raw, None)
        assert (status, body["error"]) == (403, "access_denied")
        async with raw.http.get(f"{raw.base}/.well-known/oauth-authorization-server") as resp:
            assert "registration_endpoint" not in await resp.json()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "initial-access-token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    "authorization",
    [None, "", f"Basic {TOKEN}", "Bearer", "Bearer wrong", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}"],
)
async def test_registration_without_the_initial_access_token_refused(
    mcp_server: str, token_file: Path, authorization: str | None
) -> None:
    """RFC 7591 §3 / RFC 6750 §3.1: 401 invalid_token with a Bearer challenge."""
    settings = mode_b_settings(mcp_server, dcr={"initial_access_token_file": str(token_file)})
    async with running(settings) as raw:
        status, body, challenge = await _register(raw, authorization)
    assert (status, body["error"]) == (401, "invalid_token")
    assert challenge == 'Bearer realm="mcp-sidecar", error="invalid_token"'


async def test_registration_with_the_initial_access_token_succeeds(mcp_server: str, token_file: Path) -> None:
    settings = mode_b_settings(mcp_server, dcr={"initial_access_token_file": str(token_file)})
    async with running(settings) as raw:
        status, body, _challenge = await _register(raw, f"Bearer {TOKEN}")
        assert status == 201, body
        assert body["client_id"]


def test_unreadable_initial_access_token_file_names_its_key(tmp_path: Path) -> None:
    raw = mode_b_raw(dcr={"initial_access_token_file": str(tmp_path / "absent")})
    with pytest.raises(ConfigError) as info:
        load_config_data(raw)
    assert "auth_server.dcr.initial_access_token_file" in str(info.value)
