# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.authn.idp import Idp
from tests.authserver.conftest import idp

__all__ = ["idp"]  # the real provider process fixture, shared with the authorization-server tests


@pytest.fixture
async def second_idp() -> AsyncIterator[Idp]:
    """Another provider process, for the second leg of a chained login."""
    provider = await Idp.start()
    yield provider
    provider.stop()
