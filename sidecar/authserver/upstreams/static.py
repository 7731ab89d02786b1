# SPDX-License-Identifier: Apache-2.0
"""The ``static`` upstream: users and scrypt password hashes from the config, checked off the
event loop, with the same work done for unknown users (no user enumeration by timing)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import ClassVar, Literal

from sidecar.authserver.upstreams.protocol import (
    UpstreamRefused,
    UpstreamResult,
    UpstreamStart,
    WrongCredentials,
    internal_user_id,
)
from sidecar.config.auth_server import StaticUpstream
from sidecar.config.passwords import PasswordHash, hash_password, parse_password_hash, verify_password
from sidecar.storage.records import UpstreamTokens, UserInfo

MAX_PASSWORD_LENGTH = 1024


class StaticProvider:
    kind: ClassVar[Literal["form", "redirect"]] = "form"

    def __init__(self, config: StaticUpstream) -> None:
        self.name = config.name
        self._users = {
            user.username: (parse_password_hash(user.password_hash), user.email, user.name)
            for user in config.static_config.users
        }
        self._decoy: PasswordHash = parse_password_hash(hash_password("decoy password for unknown users"))

    async def begin(self, state: str) -> UpstreamStart:
        """The built-in login form: nothing to remember."""
        return UpstreamStart(None)

    async def complete(self, params: Mapping[str, str], remembered: Mapping[str, str]) -> UpstreamResult:
        """The login form's ``username`` and ``password``."""
        username, password = params.get("username", ""), params.get("password", "")
        if len(password) > MAX_PASSWORD_LENGTH or len(username) > 256:
            raise WrongCredentials("the username or password is too long")
        entry = self._users.get(username)
        stored = entry[0] if entry is not None else self._decoy
        ok = await asyncio.to_thread(verify_password, password, stored)
        if entry is None or not ok:
            raise WrongCredentials("wrong username or password")
        _hash, email, name = entry
        return UpstreamResult(UserInfo(internal_user_id(self.name, username), self.name, email, name), None)

    async def refresh(self, tokens: UpstreamTokens) -> UpstreamTokens:
        raise UpstreamRefused("the static upstream issues no tokens to refresh")
