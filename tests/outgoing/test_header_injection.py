# SPDX-License-Identifier: Apache-2.0
"""``header_injection``: a static header read once at load reaches the backend, and a client
can neither see nor replace it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from sidecar.config import ConfigError, load_config_data
from tests.support import RunningSidecar, metric_samples, settings_for


def _backend(echo_server: TestServer, **outgoing: Any) -> dict[str, Any]:
    return {
        "name": "echo",
        "url": f"http://127.0.0.1:{echo_server.port}/",
        "path": "/b",
        "outgoing_auth": {"type": "header_injection", **outgoing},
    }


async def _seen_by_backend(url: str, http: aiohttp.ClientSession, **headers: str) -> list[list[str]]:
    async with http.get(f"{url}/b/mcp", headers=headers) as resp:
        assert resp.status == 200
        seen: list[list[str]] = (await resp.json())["headers"]
    return seen


async def test_value_from_env_reaches_the_backend_and_a_client_copy_never_does(
    echo_server: TestServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHO_API_KEY", "  key-from-env\n")
    settings = settings_for([_backend(echo_server, header_name="X-API-Key", value_env="ECHO_API_KEY")])
    monkeypatch.delenv("ECHO_API_KEY")  # read once at load: the running sidecar never looks again
    async with RunningSidecar(settings) as sidecar:
        seen = await _seen_by_backend(sidecar.url, http, **{"x-api-key": "forged-by-client"})
        samples = await metric_samples(http, sidecar.url)
    assert [value for name, value in seen if name.lower() == "x-api-key"] == ["key-from-env"]
    labels = (("result", "ok"), ("strategy", "header_injection"))
    assert samples[("mcp_sidecar_outgoing_auth_total", labels)] == 1


async def test_value_from_file_replaces_the_clients_authorization(
    echo_server: TestServer, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    secret = tmp_path / "backend-key"
    secret.write_text("Bearer static-backend-credential\n")
    secret.chmod(0o600)
    settings = settings_for([_backend(echo_server, header_name="Authorization", value_file=str(secret))])
    async with RunningSidecar(settings) as sidecar:
        seen = await _seen_by_backend(sidecar.url, http, Authorization="Bearer client-token")
    assert [value for name, value in seen if name.lower() == "authorization"] == [
        "Bearer static-backend-credential"
    ]


@pytest.mark.parametrize(
    ("outgoing", "env", "key"),
    [
        ({"header_name": "Host", "value_env": "V"}, "x", "backends[0].outgoing_auth.header_name"),
        ({"header_name": "Mcp-Session-Id", "value_env": "V"}, "x", "backends[0].outgoing_auth.header_name"),
        ({"header_name": "X-Key"}, "x", "backends[0].outgoing_auth.value_file"),
        (
            {"header_name": "X-Key", "value_env": "V"},
            "a\r\nX-Admin: 1",
            "backends[0].outgoing_auth.value_env",
        ),
        ({"header_name": "X-Key", "value_env": "UNSET_VARIABLE"}, "x", "backends[0].outgoing_auth.value_env"),
        (
            {"header_name": "X-Key", "value_env": "V", "value_file": "/nonexistent"},
            "x",
            "backends[0].outgoing_auth.value_file",
        ),
    ],
    ids=["host", "mcp_header", "no_value", "crlf_smuggling", "unset_env", "both_sources"],
)
def test_unusable_header_injection_is_refused_at_load(
    outgoing: dict[str, str], env: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("V", env)
    backend = {"name": "b", "url": "http://127.0.0.1:1/", "path": "/b"}
    raw = {"backends": [{**backend, "outgoing_auth": {"type": "header_injection", **outgoing}}]}
    with pytest.raises(ConfigError) as info:
        load_config_data(raw)
    assert key in [issue.path for issue in info.value.issues], info.value
