# SPDX-License-Identifier: Apache-2.0
"""The ``static`` upstream: users and scrypt password hashes from the config, checked off the
event loop, with the same work done for unknown users (no user enumeration by timing)."""

from __future__ import annotations

import asyncio

from sidecar.authserver.upstreams.protocol import UpstreamResult, internal_user_id
from sidecar.config.auth_server import StaticUpstream
from sidecar.config.passwords import PasswordHash, hash_password, parse_password_hash, verify_password
from sidecar.storage.records import UserInfo

MAX_PASSWORD_LENGTH = 1024


class StaticProvider:
    kind = "form"

    def __init__(self, config: StaticUpstream) -> None:
        self.name = config.name
        self._users = {
            user.username: (parse_password_hash(user.password_hash), user.email, user.name)
            for user in config.static_config.users
        }
        self._decoy: PasswordHash = parse_password_hash(hash_password("decoy password for unknown users"))

    async def login(self, username: str, password: str) -> UpstreamResult | None:
        if len(password) > MAX_PASSWORD_LENGTH or len(username) > 256:
            return None
        entry = self._users.get(username)
        stored = entry[0] if entry is not None else self._decoy
        ok = await asyncio.to_thread(verify_password, password, stored)
        if entry is None or not ok:
            return None
        _hash, email, name = entry
        return UpstreamResult(UserInfo(internal_user_id(self.name, username), self.name, email, name), None)
