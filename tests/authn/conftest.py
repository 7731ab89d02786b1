# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.authn.idp import Idp
from tests.servers.echo import build_echo_app


@pytest.fixture
async def idp() -> AsyncIterator[Idp]:
    """A real OAuth 2 / OIDC provider process on loopback."""
    provider = await Idp.start()
    yield provider
    provider.stop()


@pytest.fixture
async def echo_server(aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]) -> TestServer:
    return await aiohttp_server(build_echo_app())


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
