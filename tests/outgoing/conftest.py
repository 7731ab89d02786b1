# SPDX-License-Identifier: Apache-2.0
from __future__ import annotations

from tests.authserver.conftest import idp

__all__ = ["idp"]  # the real provider process fixture, shared with the authorization-server tests
