# SPDX-License-Identifier: Apache-2.0
"""RFC 6750 token extraction and challenges, as tables."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from sidecar.authn import errors
from sidecar.authn.bearer import challenge, extract_token, is_b64token


def _extract(*headers: tuple[str, str], query: str = "") -> str:
    params: MultiDict[str] = MultiDict()
    for pair in filter(None, query.split("&")):
        name, _, value = pair.partition("=")
        params.add(name, value)
    return extract_token(CIMultiDictProxy(CIMultiDict(headers)), MultiDictProxy(params))


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),
        ("BEARER  abc==", "abc=="),
        ("Bearer a-b_c~d+e/f", "a-b_c~d+e/f"),
    ],
)
def test_token_taken_from_authorization(value: str, token: str) -> None:
    assert _extract(("Authorization", value)) == token


@pytest.mark.parametrize(
    ("headers", "query", "error"),
    [
        ((), "", errors.MissingToken),
        ((("Authorization", "Basic dXNlcjpwYXNz"),), "", errors.MissingToken),
        ((("Authorization", "Bearer"),), "", errors.InvalidRequest),
        ((("Authorization", "Bearer a b"),), "", errors.InvalidRequest),
        ((("Authorization", 'Bearer "quoted"'),), "", errors.InvalidRequest),
        ((("Authorization", "Bearer a"), ("Authorization", "Bearer b")), "", errors.InvalidRequest),
        ((), "access_token=abc", errors.InvalidRequest),
        ((("Authorization", "Bearer good"),), "access_token=other", errors.InvalidRequest),
    ],
)
def test_token_transport_rules(
    headers: tuple[tuple[str, str], ...], query: str, error: type[errors.AuthError]
) -> None:
    """Token in the query, two tokens, another scheme, a malformed value."""
    with pytest.raises(error):
        _extract(*headers, query=query)


def test_bare_challenge_without_token() -> None:
    value = challenge(
        "https://m.example/.well-known/oauth-protected-resource/mcp", ["mcp:read"], errors.MissingToken("x")
    )
    assert (
        value == 'Bearer resource_metadata="https://m.example/.well-known/oauth-protected-resource/mcp", '
        'scope="mcp:read"'
    )


def test_invalid_token_challenge_carries_error() -> None:
    value = challenge("https://m.example/prm", [], errors.Expired('the "token" has expired\\'))
    assert value == (
        'Bearer resource_metadata="https://m.example/prm", error="invalid_token", '
        'error_description="the token has expired"'
    )


@pytest.mark.parametrize(
    "query", ["access_token=abc", "access%5Ftoken=abc", "%61ccess_token=abc", "x=1&access_token="]
)
def test_token_in_query_refused_in_any_spelling(query: str) -> None:
    params: MultiDict[str] = MultiDict(parse_qsl(query, keep_blank_values=True))
    with pytest.raises(errors.InvalidRequest):
        extract_token(CIMultiDictProxy(CIMultiDict()), MultiDictProxy(params))


_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 §2.1, as a regular expression


@given(
    st.text(st.sampled_from('aZ09-._~+/=\\" é\udcff\x00,;'), max_size=12)
    | st.text(max_size=12)
    | st.sampled_from(["=", "==", "a=", "a==b", "a=b", "é", "\udcff", "abc\n"])
)
def test_b64token_check_is_the_grammar(token: str) -> None:
    """The byte-deleting check accepts exactly the strings the grammar matches whole."""
    assert is_b64token(token) == (_B64TOKEN.fullmatch(token) is not None)
