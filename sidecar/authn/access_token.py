# SPDX-License-Identifier: Apache-2.0
"""JWT access tokens (RFC 7519, RFC 9068): parsing and every check, as pure functions.

Each check raises its own :class:`~sidecar.authn.errors.TokenRejected` subclass, whose ``reason``
is the metric label. Descriptions are fixed texts: nothing from the token is echoed back.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.api_jws import PyJWS

from sidecar.authn import errors

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_TOKEN_TYPES = frozenset({"jwt", "at+jwt", "application/at+jwt"})
MAX_KID_LENGTH = 256
_JWS = PyJWS()


@dataclass(frozen=True, slots=True)
class ParsedToken:
    header: dict[str, Any]
    claims: dict[str, Any]


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7519 §4: claim names MUST be unique; a parser that keeps the last one would let a
    # token say two things at once (the duplicate-claims attack).
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259 §6); an exp of NaN would never expire.
    raise ValueError(name)


def _json_object(segment: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (binascii.Error, ValueError, RecursionError):
        raise errors.Malformed("the token is not a well-formed JWT") from None
    if not isinstance(value, dict):
        raise errors.Malformed("the token is not a well-formed JWT")
    return value


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


def parse(token: str, max_bytes: int) -> ParsedToken:
    """Split and decode a compact JWS; the size is checked before anything else."""
    if len(token) > max_bytes:
        raise errors.TooLarge("the token is larger than this server accepts")
    segments = token.split(".")
    if len(segments) == 5:
        raise errors.Malformed("encrypted tokens (JWE) are not accepted")
    if len(segments) != 3 or not all(_B64URL.match(segment) for segment in segments):
        raise errors.Malformed("the token is not a well-formed JWT")
    return ParsedToken(_json_object(segments[0]), _json_object(segments[1]))


def check_header(header: Mapping[str, Any], allowed_algorithms: frozenset[str]) -> tuple[str, str | None]:
    """The algorithm and key id to verify with.

    ``jku``, ``x5u``, ``jwk`` and ``x5c`` are never read: keys come only from the sidecar's own
    sources, and ``kid`` is only a lookup key into them.
    """
    alg = header.get("alg")
    # RFC 8725 §3.1: the algorithm comes from an allow list of asymmetric algorithms; "none"
    # (in any spelling) and HMAC never are on it.
    if not isinstance(alg, str) or alg not in allowed_algorithms:
        raise errors.AlgorithmNotAllowed("the token's signature algorithm is not accepted")
    # RFC 7515 §4.1.11: a recipient that does not understand a critical parameter MUST reject.
    if "crit" in header or "b64" in header:
        raise errors.CriticalHeader("the token uses header extensions this server does not accept")
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or typ.lower() not in _TOKEN_TYPES):
        raise errors.WrongTokenType("the token is not an access token")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid or len(kid) > MAX_KID_LENGTH):
        raise errors.Malformed("the token's key id is not usable")
    return alg, kid


def verify_signature(token: str, key: Any, alg: str) -> None:
    try:
        _JWS.decode_complete(token, key=key, algorithms=[alg])
    except jwt.InvalidSignatureError:
        raise errors.BadSignature("the token's signature does not verify") from None
    except jwt.PyJWTError:
        raise errors.Malformed("the token cannot be verified") from None


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise errors.Malformed(f"the {name} claim is not a number")
    # SECURITY: a signed 10**400 overflows float() (a 500 counted as a success) and 1e400 parses
    # as infinity (a token that never expires). RFC 7519 §2: a NumericDate is a number of seconds;
    # neither is one.
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise errors.Malformed(f"the {name} claim is out of range")
    return number


def check_issuer(claims: Mapping[str, Any], issuer: str) -> None:
    # Exact string comparison (RFC 9068 §4, OIDC Core §3.1.3.7): no trailing-slash or case games.
    if claims.get("iss") != issuer:
        raise errors.WrongIssuer("the token was not issued by the expected issuer")


def check_audience(claims: Mapping[str, Any], audiences: frozenset[str]) -> None:
    # RFC 7519 §4.1.3 and RFC 8707 §2: the token must name this resource among its audiences.
    aud = claims.get("aud")
    if isinstance(aud, str):
        named = aud in audiences  # the usual single audience, checked on every cache hit too
    else:
        named = isinstance(aud, list) and any(isinstance(value, str) and value in audiences for value in aud)
    if not named:
        raise errors.WrongAudience("the token is not meant for this resource")


def check_times(claims: Mapping[str, Any], now: float, skew: float, max_lifetime: float) -> float:
    """Check exp (required), nbf, iat and the lifetime; return exp."""
    exp = _number(claims, "exp")
    if exp is None:
        raise errors.Expired("the token has no expiry")
    if now > exp + skew:
        raise errors.Expired("the token has expired")
    nbf = _number(claims, "nbf")
    if nbf is not None and now + skew < nbf:
        raise errors.NotYetValid("the token is not valid yet")
    iat = _number(claims, "iat")
    if iat is not None and iat > now + skew:
        raise errors.IssuedInFuture("the token was issued in the future")
    if exp - (iat if iat is not None else now) > max_lifetime:
        raise errors.LifetimeTooLong("the token's lifetime is longer than this server accepts")
    return exp


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """``scope`` (RFC 9068 §2.2.3, space-separated) or ``scp`` (a list, as some IdPs send)."""
    scope = claims.get("scope", claims.get("scp"))
    if isinstance(scope, str):
        return frozenset(scope.split())
    if isinstance(scope, list):
        return frozenset(s for s in scope if isinstance(s, str))
    return frozenset()
