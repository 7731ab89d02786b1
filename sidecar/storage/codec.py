# SPDX-License-Identifier: Apache-2.0
"""The records as bytes, for stores outside the process: JSON (orjson), one decoder per record.

Decoding is strict: a value that is not what this version wrote raises ``StorageError`` (the
store answers 503), never a half-built record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from sidecar.storage.protocol import StorageError
from sidecar.storage.records import (
    Client,
    CodeGrant,
    IssuedTokens,
    PendingAuthorization,
    RefreshRecord,
    UpstreamTokens,
    UserInfo,
)

R = TypeVar("R")


def encode(record: object) -> bytes:
    """Any record (a frozen dataclass) as JSON; tuples become lists."""
    return orjson.dumps(record)


def _user(data: dict[str, Any]) -> UserInfo:
    return UserInfo(**data)


def _client(data: dict[str, Any]) -> Client:
    return Client(
        **{**data, "redirect_uris": tuple(data["redirect_uris"]), "grant_types": tuple(data["grant_types"])}
    )


def _pending(data: dict[str, Any]) -> PendingAuthorization:
    user = data.get("user")
    return PendingAuthorization(
        **{**data, "scopes": tuple(data["scopes"]), "user": _user(user) if isinstance(user, dict) else None}
    )


def _code(data: dict[str, Any]) -> CodeGrant:
    return CodeGrant(**{**data, "scopes": tuple(data["scopes"]), "user": _user(data["user"])})


def _refresh(data: dict[str, Any]) -> RefreshRecord:
    return RefreshRecord(**{**data, "scopes": tuple(data["scopes"]), "user": _user(data["user"])})


def _upstream(data: dict[str, Any]) -> UpstreamTokens:
    return UpstreamTokens(**data)


def _issued(data: dict[str, Any]) -> IssuedTokens:
    return IssuedTokens(**data)


def _scopes(data: list[Any]) -> tuple[str, ...]:
    if not all(isinstance(scope, str) for scope in data):
        raise TypeError("not a list of scopes")
    return tuple(data)


def _decoder(build: Callable[[Any], R], shape: type = dict) -> Callable[[bytes], R]:
    def decode(raw: bytes) -> R:
        try:
            data = orjson.loads(raw)
            if not isinstance(data, shape):
                raise TypeError(f"not a JSON {shape.__name__}")
            return build(data)
        except (orjson.JSONDecodeError, TypeError, KeyError) as exc:
            raise StorageError(f"a stored record does not decode: {type(exc).__name__}") from None

    return decode


decode_client = _decoder(_client)
decode_pending = _decoder(_pending)
decode_code = _decoder(_code)
decode_refresh = _decoder(_refresh)
decode_upstream = _decoder(_upstream)
decode_issued = _decoder(_issued)
decode_scopes = _decoder(_scopes, list)
