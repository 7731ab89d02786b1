# SPDX-License-Identifier: Apache-2.0
"""RFC 6750: taking the token from a request, and the ``WWW-Authenticate`` challenge."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from multidict import MultiMapping

from sidecar.authn import errors

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64_CHARACTERS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/"
# RFC 6750 §3: scope and error_description use %x20-21 / %x23-5B / %x5D-7E (no " or \).
_UNSAFE = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")


def extract_token(headers: MultiMapping[str], query: MultiMapping[str]) -> str:
    """The bearer token, from ``Authorization`` only (MCP authorization: never the query)."""
    if "access_token" in query:
        raise errors.InvalidRequest("access tokens are not accepted in the query string")
    values = headers.getall("Authorization", [])
    if len(values) > 1:
        raise errors.InvalidRequest("more than one Authorization header")
    if not values:
        raise errors.MissingToken("a bearer token is required")
    scheme, _, token = values[0].strip().partition(" ")
    # RFC 9110 §11.1: the scheme is case-insensitive. Another scheme is no bearer token at all.
    if scheme.lower() != "bearer":
        raise errors.MissingToken("a bearer token is required")
    token = token.strip()
    if not is_b64token(token):
        raise errors.InvalidRequest("the Authorization header is not a well-formed bearer token")
    return token


def is_b64token(token: str) -> bool:
    """RFC 6750 §2.1's b64token: the allowed characters, then only ``=``. (Checked on every
    request: deleting the allowed bytes in C costs a third of a regular-expression match.)"""
    if not token.isascii():  # header text may hold anything, lone surrogates included
        return False
    body = token.encode("ascii").rstrip(b"=")
    return bool(body) and not body.translate(None, _B64_CHARACTERS)  # nothing but allowed bytes


def quoted(value: str) -> str:
    return '"' + _UNSAFE.sub("", value) + '"'


def challenge(resource_metadata: str, scopes: Iterable[str], error: errors.AuthError | None) -> str:
    """``Bearer resource_metadata=..., scope=...``, with ``error`` when a token was presented
    (RFC 6750 §3.1: a request without credentials gets no error code)."""
    params = [f"resource_metadata={quoted(resource_metadata)}"]
    scope = " ".join(scopes)
    if scope:
        params.append(f"scope={quoted(scope)}")
    if error is not None and error.error is not None:
        params.append(f"error={quoted(error.error)}")
        params.append(f"error_description={quoted(error.description)}")
    return "Bearer " + ", ".join(params)


def error_body(error: errors.AuthError) -> Mapping[str, str]:
    return {"error": error.error or "unauthorized", "error_description": error.description}
