# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.authn.idp import Idp


@pytest.fixture
async def idp() -> AsyncIterator[Idp]:
    """A real OAuth 2 / OIDC provider process on loopback."""
    provider = await Idp.start()
    yield provider
    provider.stop()
