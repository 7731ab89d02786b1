# SPDX-License-Identifier: Apache-2.0
"""The verified-token cache: bounded, keyed by a hash of the token (the token itself is never
held), and no entry outlives the token's ``exp``, which is checked again on every hit."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class TokenCache(Generic[T]):
    """Least-recently-used map from token digest to ``(value, expires_at)``."""

    def __init__(self, max_entries: int) -> None:
        self._max = max_entries
        self._entries: OrderedDict[bytes, tuple[T, float]] = OrderedDict()

    def get(self, digest: bytes, now: float) -> T | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        value, expires_at = entry
        if now >= expires_at:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return value

    def put(self, digest: bytes, value: T, expires_at: float) -> None:
        if self._max <= 0:
            return
        self._entries[digest] = (value, expires_at)
        self._entries.move_to_end(digest)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
