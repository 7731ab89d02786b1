# SPDX-License-Identifier: Apache-2.0
"""What is built where: create_app checks the authorization server and opens nothing; its
outbound client and store are opened when the app starts and closed when it stops."""

from __future__ import annotations

from pytest_aiohttp import AiohttpClient

from sidecar.app import create_app
from sidecar.authserver.web import AUTH_SERVER
from sidecar.config.loader import load_config_data
from tests.authserver.flow import mode_b_raw


async def test_the_server_is_opened_at_start_up(aiohttp_client: AiohttpClient) -> None:
    """create_app opens nothing (there is no server yet); once the app starts, the server is open,
    its store answers, and /readyz says so."""
    app = create_app(load_config_data(mode_b_raw()))
    assert AUTH_SERVER not in app
    client = await aiohttp_client(app)
    server = app[AUTH_SERVER]
    assert list(server.upstreams) == ["local"]  # the registry, by configured name
    await server.storage.check()
    async with client.get("/readyz") as resp:
        assert "storage: not answering" not in await resp.text()
    await client.close()
