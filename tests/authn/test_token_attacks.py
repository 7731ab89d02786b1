# SPDX-License-Identifier: Apache-2.0
"""Every token attack of the attack checklist (§1) against the validator, one named test each.

The keys sit in the in-process tier, so these run with no network at all.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from sidecar.authn import errors
from sidecar.authn.keys import StaticKeyProvider
from sidecar.authn.validator import Identity, TokenValidator
from tests.authn.tokens import (
    ATTACKER_RSA,
    AUDIENCE,
    EC_KEY,
    ED_KEY,
    RSA_KEY,
    b64,
    claims,
    forge,
    hmac_sign,
    oidc_settings,
    public_jwk,
    public_pem,
    sign,
    verification_key,
)

AUDIENCES = frozenset({AUDIENCE})
KEYS = StaticKeyProvider(
    [
        verification_key(RSA_KEY, "rsa-1"),
        verification_key(EC_KEY, "ec-1"),
        verification_key(ED_KEY, "ed-1"),
    ]
)


def _validator(**settings: Any) -> TokenValidator:
    return TokenValidator(oidc_settings(**settings), local=KEYS)


async def _validate(token: str, **settings: Any) -> Identity:
    return await _validator(**settings).validate(token, AUDIENCES)


async def _rejected(
    token: str, error: type[errors.AuthError] | tuple[type[errors.AuthError], ...], **settings: Any
) -> None:
    with pytest.raises(error):
        await _validate(token, **settings)


@pytest.mark.parametrize(
    ("key", "alg", "kid"),
    [
        (RSA_KEY, "RS256", "rsa-1"),
        (RSA_KEY, "PS256", "rsa-1"),
        (EC_KEY, "ES256", "ec-1"),
        (ED_KEY, "EdDSA", "ed-1"),
    ],
)
async def test_valid_token_accepted_per_algorithm(key: Any, alg: str, kid: str) -> None:
    identity = await _validate(sign(claims(), key, alg, kid=kid))
    assert identity.subject == "user-1"
    assert identity.scopes == {"mcp:read", "mcp:write"}
    assert identity.source == "local"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_in_any_case_rejected(alg: str) -> None:
    await _rejected(forge({"alg": alg, "kid": "rsa-1"}, claims()), errors.AlgorithmNotAllowed)
    await _rejected(forge({"alg": alg, "kid": "rsa-1"}, claims(), "c2ln"), errors.AlgorithmNotAllowed)


async def test_hs256_signed_with_rsa_public_pem_rejected() -> None:
    """Key confusion (CVE-2022-29217 class): the public key used as an HMAC secret."""
    token = hmac_sign({"alg": "HS256", "kid": "rsa-1"}, claims(), public_pem(RSA_KEY))
    await _rejected(token, errors.AlgorithmNotAllowed)


async def test_hs256_signed_with_rsa_public_jwk_rejected() -> None:
    """Key confusion with the JWK JSON as the secret (CVE-2026-48526 class)."""
    secret = json.dumps(public_jwk(RSA_KEY, "rsa-1")).encode()
    await _rejected(hmac_sign({"alg": "HS256", "kid": "rsa-1"}, claims(), secret), errors.AlgorithmNotAllowed)


async def test_algorithm_outside_allow_list_rejected() -> None:
    await _rejected(
        sign(claims(), RSA_KEY, "RS384"), errors.AlgorithmNotAllowed, allowed_algorithms=("RS256",)
    )


@pytest.mark.parametrize(("alg", "kid"), [("ES256", "rsa-1"), ("RS256", "ec-1"), ("EdDSA", "rsa-1")])
async def test_algorithm_family_must_fit_the_key(alg: str, kid: str) -> None:
    """An ES256 header naming an RSA key (or the reverse) never reaches signature checking."""
    signer = {"ES256": EC_KEY, "RS256": RSA_KEY, "EdDSA": ED_KEY}[alg]
    await _rejected(sign(claims(), signer, alg, kid=kid), errors.KeyMismatch)


async def test_jwk_alg_pins_the_algorithm() -> None:
    keys = StaticKeyProvider([verification_key(RSA_KEY, "rsa-1", alg="RS256")])
    validator = TokenValidator(oidc_settings(), local=keys)
    with pytest.raises(errors.KeyMismatch):
        await validator.validate(sign(claims(), RSA_KEY, "PS256"), AUDIENCES)


@pytest.mark.parametrize("kid", ["../../../../etc/passwd", "' OR 1=1 --", "rsa-2", "\u0000", "%00rsa-1"])
async def test_kid_injection_is_only_a_lookup_key(kid: str) -> None:
    await _rejected(sign(claims(), RSA_KEY, kid=kid), errors.UnknownKey)


async def test_huge_kid_rejected() -> None:
    await _rejected(sign(claims(), RSA_KEY, kid="k" * 10_000), errors.TooLarge)
    await _rejected(sign(claims(), RSA_KEY, kid="k" * 300), errors.Malformed, max_token_bytes=100_000)


async def test_missing_kid_with_several_keys_rejected() -> None:
    token = jwt.encode(claims(), RSA_KEY, algorithm="RS256")
    await _rejected(token, errors.UnknownKey)


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "x5c"])
async def test_embedded_key_headers_never_followed(header: str) -> None:
    """A token signed by the attacker, pointing at the attacker's key: its kid is unknown and
    the header is never read, so nothing is fetched and the token fails."""
    value: Any = {
        "jku": "http://127.0.0.1:1/jwks.json",
        "x5u": "http://127.0.0.1:1/cert.pem",
        "jwk": public_jwk(ATTACKER_RSA, "attacker"),
        "x5c": ["MIIB"],
    }[header]
    await _rejected(sign(claims(), ATTACKER_RSA, kid="attacker", **{header: value}), errors.UnknownKey)
    # Same header with our kid but the attacker's signature: the signature decides.
    await _rejected(sign(claims(), ATTACKER_RSA, kid="rsa-1", **{header: value}), errors.BadSignature)


@pytest.mark.parametrize("crit", [["exp"], [], ["b64"], ["urn:example:unknown"]])
async def test_crit_header_rejected(crit: list[str]) -> None:
    await _rejected(sign(claims(), RSA_KEY, crit=crit), errors.CriticalHeader)


async def test_b64_false_rejected() -> None:
    """RFC 7797 unencoded payloads are never accepted (the payload is not even base64url)."""
    await _rejected(sign(claims(), RSA_KEY, b64=False), (errors.CriticalHeader, errors.Malformed))
    await _rejected(
        forge({"alg": "RS256", "kid": "rsa-1", "b64": False}, claims(), "c2ln"), errors.CriticalHeader
    )


@pytest.mark.parametrize(
    ("typ", "ok"),
    [
        ("JWT", True),
        ("at+jwt", True),
        ("application/at+JWT", True),
        ("dpop+jwt", False),
        ("id_token", False),
        (7, False),
    ],
)
async def test_token_type(typ: Any, ok: bool) -> None:
    token = (
        sign(claims(), RSA_KEY, typ=typ)
        if isinstance(typ, str)
        else forge({"alg": "RS256", "kid": "rsa-1", "typ": typ}, claims(), "c2ln")
    )
    if ok:
        await _validate(token)
    else:
        await _rejected(token, errors.WrongTokenType)


async def test_expired_rejected() -> None:
    now = int(time.time())
    await _rejected(sign(claims(iat=now - 600, exp=now - 61)), errors.Expired)


async def test_expiry_within_clock_skew_accepted() -> None:
    now = int(time.time())
    await _validate(sign(claims(iat=now - 600, exp=now - 30)))


async def test_missing_exp_rejected() -> None:
    await _rejected(sign(claims(exp=None)), errors.Expired)


@pytest.mark.parametrize("value", ["tomorrow", True, [1], {"t": 1}])
async def test_non_numeric_exp_rejected(value: Any) -> None:
    await _rejected(sign(claims(exp=value)), errors.Malformed)


async def test_nbf_in_the_future_rejected() -> None:
    await _rejected(sign(claims(nbf=int(time.time()) + 600)), errors.NotYetValid)


async def test_iat_in_the_future_rejected() -> None:
    now = int(time.time())
    await _rejected(sign(claims(iat=now + 600, exp=now + 900)), errors.IssuedInFuture)


async def test_absurd_lifetime_rejected() -> None:
    now = int(time.time())
    await _rejected(sign(claims(exp=now + 10 * 365 * 86400)), errors.LifetimeTooLong)
    await _rejected(sign(claims(iat=None, exp=now + 2 * 86400)), errors.LifetimeTooLong)


@pytest.mark.parametrize(
    "iss",
    [
        None,
        "https://idp.example.co",
        "https://idp.example.com/",
        "HTTPS://IDP.EXAMPLE.COM",
        "https://idp.example.com.evil.com",
        "https://evil.com/https://idp.example.com",
        ["https://idp.example.com"],
        " https://idp.example.com",
    ],
)
async def test_issuer_must_match_exactly(iss: Any) -> None:
    await _rejected(sign(claims(iss=iss)), errors.WrongIssuer)


@pytest.mark.parametrize(
    "aud",
    [
        None,
        "https://mcp.example.com",
        "https://mcp.example.com/mcp/",
        "https://mcp.example.com/mcpx",
        "HTTPS://MCP.EXAMPLE.COM/mcp",
        [],
        ["https://other.example.com"],
        {"aud": AUDIENCE},
        42,
    ],
)
async def test_audience_must_name_this_resource(aud: Any) -> None:
    await _rejected(sign(claims(aud=aud)), errors.WrongAudience)


async def test_audience_list_containing_ours_accepted() -> None:
    await _validate(sign(claims(aud=["https://other.example.com", AUDIENCE])))


async def test_stripped_signature_rejected() -> None:
    token = sign(claims())
    await _rejected(token.rsplit(".", 1)[0] + ".", (errors.Malformed, errors.BadSignature))


async def test_truncated_signature_rejected() -> None:
    await _rejected(sign(claims())[:-10], errors.BadSignature)


async def test_bit_flipped_signature_rejected() -> None:
    token = sign(claims())
    last = token[-2]
    await _rejected(token[:-2] + ("A" if last != "A" else "B") + token[-1], errors.BadSignature)


async def test_payload_swapped_from_another_token_rejected() -> None:
    ours = sign(claims()).split(".")
    theirs = sign(claims(sub="admin", scope="everything")).split(".")
    await _rejected(f"{ours[0]}.{theirs[1]}.{ours[2]}", errors.BadSignature)


async def test_altered_claims_rejected() -> None:
    header, _payload, signature = sign(claims()).split(".")
    await _rejected(f"{header}.{b64(json.dumps(claims(sub='admin')))}.{signature}", errors.BadSignature)


@pytest.mark.parametrize("segments", [1, 2, 4, 5, 6])
async def test_wrong_segment_count_rejected(segments: int) -> None:
    parts = (sign(claims()) + ".e30" * 3).split(".")[:segments]
    await _rejected(".".join(parts), errors.Malformed)


@pytest.mark.parametrize(
    "token",
    ["a*b.c.d", "eyJ=.eyJ.c2ln", "!!!.???.###", "e30.e30.c2ln=", "\u00e9.e30.c2ln", ".."],
)
async def test_bad_base64_or_structure_rejected(token: str) -> None:
    await _rejected(token, errors.Malformed)


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        ("[1]", "{}"),
        ('"x"', "{}"),
        ("not json", "{}"),
        ('{"alg":"RS256","kid":"rsa-1"}', "[]"),
        ('{"alg":"RS256","kid":"rsa-1"}', "null"),
    ],
)
async def test_header_or_payload_not_an_object_rejected(header: str, payload: str) -> None:
    await _rejected(forge(header, payload, "c2ln"), errors.Malformed)


async def test_duplicate_claims_rejected() -> None:
    """A payload saying sub twice is refused before its signature is even looked at."""
    payload = json.dumps(claims())[:-1] + ', "sub": "admin"}'
    header = '{"alg":"RS256","kid":"rsa-1"}'
    signing_input = f"{b64(header)}.{b64(payload)}".encode()
    signature = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256).sign(signing_input, RSA_KEY)
    await _rejected(f"{signing_input.decode()}.{b64(signature)}", errors.Malformed)


async def test_header_without_alg_rejected() -> None:
    await _rejected("e30.e30.c2ln", errors.AlgorithmNotAllowed)


async def test_duplicate_header_parameters_rejected() -> None:
    await _rejected(forge('{"alg":"RS256","alg":"none","kid":"rsa-1"}', claims(), "c2ln"), errors.Malformed)


async def test_oversized_token_rejected_before_parsing() -> None:
    await _rejected("e30." + "A" * 1_000_000 + ".c2ln", errors.TooLarge)
    padded = sign(claims(pad="x" * 10_000))
    await _rejected(padded, errors.TooLarge)
    await _validate(padded, max_token_bytes=20_000)


async def test_jwe_rejected() -> None:
    await _rejected("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", errors.Malformed)


async def test_verified_token_cache_rechecks_expiry_and_audience() -> None:
    now = [time.time()]
    validator = TokenValidator(oidc_settings(), local=KEYS, clock=lambda: now[0])
    token = sign(claims(exp=int(now[0]) + 100))
    assert (await validator.validate(token, AUDIENCES)).source == "local"
    assert (await validator.validate(token, AUDIENCES)).source == "cache"
    with pytest.raises(errors.WrongAudience):
        await validator.validate(token, frozenset({"https://other.example.com/mcp"}))
    now[0] += 100 + 61  # past exp + skew: the cache entry is gone and the token is expired
    with pytest.raises(errors.Expired):
        await validator.validate(token, AUDIENCES)


async def test_cache_off_verifies_every_time() -> None:
    validator = TokenValidator(oidc_settings(token_cache_size=0), local=KEYS)
    token = sign(claims())
    for _ in range(2):
        assert (await validator.validate(token, AUDIENCES)).source == "local"
