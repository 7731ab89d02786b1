# SPDX-License-Identifier: Apache-2.0
"""The claim checks fuzzed with validly signed tokens: whatever JSON the claims hold, the
validator answers with an identity or its own typed refusal, never another exception."""

from __future__ import annotations

import json
import time
from typing import Any

from hypothesis import event, given
from hypothesis import strategies as st

from sidecar.authn import errors
from sidecar.authn.keys import StaticKeyProvider
from sidecar.authn.validator import TokenValidator
from tests.authn.tokens import AUDIENCE, EC_KEY, ISSUER, oidc_settings, sign, verification_key

NOW = int(time.time())
KEYS = StaticKeyProvider([verification_key(EC_KEY, "ec-1")])

_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=8,
)
# Numbers as JSON text, including those no float holds (json.loads makes 1e400 infinity).
_NUMBER_TEXT = st.sampled_from(
    ["1e400", "-1e400", "1E+999", str(10**400), str(-(10**400)), str(10**30), "-0.0", "4.9e-324"]
)
_NEAR_NOW = st.integers(min_value=NOW - 600, max_value=NOW + 600).map(str)
_BASELINE = {
    "iss": ISSUER,
    "aud": AUDIENCE,
    "sub": "user-1",
    "iat": NOW,
    "exp": NOW + 300,
    "scope": "mcp:read",
}
_NAMES = st.sampled_from([*_BASELINE, "nbf", "scp", "tsid"]) | st.text(max_size=8)
# A valid token's claims with a few of them replaced by any JSON text, or removed (None).
_OVERRIDES = st.dictionaries(_NAMES, _NEAR_NOW | _NUMBER_TEXT | _JSON.map(json.dumps) | st.none(), max_size=4)


def _payload(overrides: dict[str, str | None]) -> str:
    members = {name: json.dumps(value) for name, value in _BASELINE.items()} | overrides
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in members.items() if v is not None) + "}"


@given(_OVERRIDES)
async def test_signed_tokens_with_any_claims_get_an_identity_or_a_typed_refusal(
    overrides: dict[str, str | None],
) -> None:
    """Fuzzed: a signed token's claims, whatever their JSON, never raise past the validator."""
    token = sign(_payload(overrides), EC_KEY, "ES256", kid="ec-1")
    settings = oidc_settings(max_token_bytes=100_000)
    validator = TokenValidator(settings, local=KEYS, clock=lambda: NOW)
    try:
        identity = await validator.validate(token, frozenset({AUDIENCE}))
    except errors.TokenRejected as refusal:
        event(refusal.reason)
        return
    event("accepted")
    assert identity.source == "local"
    assert NOW <= identity.expires_at + settings.clock_skew < float("inf")
    assert identity.subject is None or isinstance(identity.subject, str)
    assert all(isinstance(scope, str) for scope in identity.scopes)
